"""Small, generic evaluation helpers: bootstrap confidence intervals and top-k ranking metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def bootstrap_ci(samples: Sequence[np.ndarray], statistic: Callable[..., float], n_boot: int = 1000,
                 seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*samples)``.

    The arrays are resampled together (the same row positions for each: a paired bootstrap when there
    are several, e.g. a model's and a baseline's per-row results). NaN when there are no rows.
    """
    arrays = [np.asarray(s, dtype=np.float64) for s in samples]
    n = len(arrays[0]) if arrays else 0
    if n == 0 or n_boot < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        values[b] = statistic(*(a[idx] for a in arrays))
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0
    return float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))


def ranking_metrics(recommended: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> dict[str, np.ndarray]:
    """Per user: hit@k (any of the first k relevant), precision@k (hits / k) and recall@k (hits / relevant)."""
    hits = np.array([len(set(list(r)[:k]) & rel) for r, rel in zip(recommended, relevant, strict=True)],
                    dtype=np.float64)
    n_rel = np.array([len(rel) for rel in relevant], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(n_rel > 0, hits / n_rel, 0.0)
    return {"hit": (hits > 0).astype(np.float64), "precision": hits / k, "recall": recall}
