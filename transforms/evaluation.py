"""Model evaluation with bootstrap confidence intervals: ROC AUC, PR AUC, Brier score, top-decile lift
(the churn model card), a generic percentile bootstrap with top-k ranking metrics (the recommender
card), and single-metric estimates with paired differences (the renewal model card).

Every classifier metric takes case weights, so a bootstrap replicate is the same rows with
multinomial resampling counts as weights: the scores are sorted once per model and each replicate
costs a few weighted sums (fast enough for hundreds of thousands of rows and hundreds of replicates). Paired comparisons (model A minus model B)
use the same replicate weights for both models, which is what makes a difference "significant" or not.

Ties: equal scores form one group; AUC counts a tied positive-negative pair as one half (as
``sklearn.metrics.roc_auc_score``), PR AUC is average precision over the distinct score thresholds
(as ``sklearn.metrics.average_precision_score``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, roc_auc_score

METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "brier", "top_decile_lift")


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap percentile interval."""

    value: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


class RankedScores:
    """One model's scores on fixed rows, sorted once (highest first) into groups of equal scores."""

    def __init__(self, y: np.ndarray, scores: np.ndarray) -> None:
        y = np.asarray(y, dtype=np.float64)
        s = np.asarray(scores, dtype=np.float64)
        if y.shape != s.shape:
            raise ValueError(f"labels and scores differ in length: {y.size} vs {s.size}")
        if np.isnan(s).any():
            raise ValueError("scores contain NaN")
        self.n = y.size
        self.y = y
        self.s = s
        self.order = np.argsort(-s, kind="stable")
        ranked = s[self.order]
        starts = np.r_[True, ranked[1:] != ranked[:-1]] if self.n else np.zeros(0, dtype=bool)
        self.group = np.empty(self.n, dtype=np.int64)
        self.group[self.order] = np.cumsum(starts) - 1  # group of each row, 0 = highest score
        self.n_groups = int(starts.sum())
        self._ones = np.ones(self.n)
        self.sq_error = (s - y) ** 2

    def metrics(self, w: np.ndarray | None = None, only: Sequence[str] = METRICS) -> dict[str, float]:
        """Weighted metrics (``w`` = case weights, default 1 per row); ``only`` limits which are computed."""
        w = self._ones if w is None else np.asarray(w, dtype=np.float64)
        wy = w * self.y
        pos = np.bincount(self.group, weights=wy, minlength=self.n_groups)
        both = np.bincount(self.group, weights=w, minlength=self.n_groups)
        neg = both - pos
        total_pos, total = float(pos.sum()), float(both.sum())
        total_neg = total - total_pos
        out = {"base_rate": total_pos / total if total > 0 else math.nan}
        ranked = total_pos > 0 and total_neg > 0
        if "roc_auc" in only:
            # groups run from the highest score down: negatives below group g are those after it
            out["roc_auc"] = (float((pos * (total_neg - np.cumsum(neg) + 0.5 * neg)).sum() / (total_pos * total_neg))
                              if ranked else math.nan)
        if "pr_auc" in only:
            tp, seen = np.cumsum(pos), np.cumsum(both)
            out["pr_auc"] = float((pos * tp / np.maximum(seen, 1e-300)).sum() / total_pos) if ranked else math.nan
        if "brier" in only:
            out["brier"] = float((w * self.sq_error).sum() / total) if total > 0 else math.nan
        if "top_decile_lift" in only:
            out["top_decile_lift"] = self._top_decile_lift(w, wy, out["base_rate"])
        return out

    def _top_decile_lift(self, w: np.ndarray, wy: np.ndarray, base: float) -> float:
        """Positive rate among the highest-scored 10% of the (weighted) rows over the base rate."""
        if not base or math.isnan(base):
            return math.nan
        ws = w[self.order]
        cum = np.cumsum(ws)
        # the rows up to and including the one crossing 10% of the weight
        k = max(1, int(np.searchsorted(cum - ws, 0.1 * cum[-1], side="left")))
        inside = ws[:k].sum()
        return float(wy[self.order[:k]].sum() / max(inside, 1e-300)) / base


def bootstrap_metrics(y: np.ndarray, scores: Mapping[str, np.ndarray], *, n_boot: int = 200, seed: int = 0,
                      alpha: float = 0.05, reference: str | None = None,
                      metrics: Sequence[str] = METRICS) -> dict[str, dict[str, Interval]]:
    """Point estimates and percentile intervals of each metric for each model on the same rows.

    With ``reference``, every other model also gets ``<metric>_diff``: its metric minus the
    reference's, with the interval of the paired difference (same replicates for both).
    """
    y = np.asarray(y, dtype=np.float64)
    ranked = {name: RankedScores(y, s) for name, s in scores.items()}
    points = {name: r.metrics() for name, r in ranked.items()}
    draws: dict[str, dict[str, list[float]]] = {name: {m: [] for m in metrics} for name in ranked}
    if y.size:
        rng = np.random.default_rng(seed)
        for _ in range(n_boot):
            w = np.bincount(rng.integers(0, y.size, size=y.size), minlength=y.size).astype(np.float64)
            for name, r in ranked.items():
                values = r.metrics(w, metrics)
                for m in metrics:
                    draws[name][m].append(values[m])
    lo_q, hi_q = 100 * alpha / 2, 100 * (1 - alpha / 2)

    def interval(point: float, values: list[float]) -> Interval:
        arr = np.asarray(values, dtype=np.float64)
        arr = arr[~np.isnan(arr)]
        if math.isnan(point) or arr.size == 0:
            return Interval(point, math.nan, math.nan)
        return Interval(point, float(np.percentile(arr, lo_q)), float(np.percentile(arr, hi_q)))

    out: dict[str, dict[str, Interval]] = {}
    for name in ranked:
        out[name] = {m: interval(points[name][m], draws[name][m]) for m in metrics}
        out[name]["base_rate"] = Interval(points[name]["base_rate"], math.nan, math.nan)
    if reference is not None:
        if reference not in ranked:
            raise ValueError(f"reference model {reference!r} is not among {sorted(ranked)}")
        for name in ranked:
            if name == reference:
                continue
            for m in metrics:
                diffs = [a - b for a, b in zip(draws[name][m], draws[reference][m], strict=True)]
                out[name][f"{m}_diff"] = interval(points[name][m] - points[reference][m], diffs)
    return out


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


# --- single metrics with an interval (the renewal model card) ----------------------------------

Metric = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Estimate:
    value: float | None
    ci_low: float | None
    ci_high: float | None
    samples: int  # resamples where the metric was defined


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC (scikit-learn's ``roc_auc_score``), None when only one class is present."""
    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        return None
    return float(roc_auc_score(y, np.asarray(score, dtype=np.float64)))


def _auc_rows(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of ``(samples, n)`` label and score matrices, by the Mann-Whitney identity
    AUC = (sum of the positives' ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg) with average ranks for
    ties (equal to ``roc_auc_score``); NaN where a row has one class only. One ``rankdata`` call for
    every resample: the bootstrap of a card in milliseconds."""
    ranks = rankdata(score, axis=1)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * y).sum(axis=1) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def pr_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Average precision (area under the precision-recall curve), None without positives."""
    y = np.asarray(y, dtype=bool)
    if not y.any():
        return None
    return float(average_precision_score(y, np.asarray(score, dtype=np.float64)))


def _resamples(n: int, samples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def bootstrap(metric: Callable[[np.ndarray, np.ndarray], float | None], y: np.ndarray, score: np.ndarray, *,
              samples: int = 1000, alpha: float = 0.05, seed: int = 42) -> Estimate:
    """``metric(y, score)`` with its (1 - alpha) percentile bootstrap interval."""
    y, score = np.asarray(y), np.asarray(score, dtype=np.float64)
    value = metric(y, score) if len(y) else None
    if value is None or samples <= 0:
        return Estimate(value, None, None, 0)
    idx = _resamples(len(y), samples, seed)
    if metric is roc_auc:
        stats = [float(v) for v in _auc_rows(y.astype(bool)[idx], score[idx]) if not np.isnan(v)]
    else:
        stats = [v for i in idx if (v := metric(y[i], score[i])) is not None]
    if not stats:
        return Estimate(value, None, None, 0)
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return Estimate(value, float(lo), float(hi), len(stats))


def paired_difference(metric: Callable[[np.ndarray, np.ndarray], float | None], y: np.ndarray, a: np.ndarray,
                      b: np.ndarray, *, samples: int = 1000, alpha: float = 0.05, seed: int = 42) -> Estimate:
    """``metric(y, a) - metric(y, b)`` with its bootstrap interval (the same resampled rows for both)."""
    y, a, b = np.asarray(y), np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ma, mb = (metric(y, a), metric(y, b)) if len(y) else (None, None)
    if ma is None or mb is None:
        return Estimate(None, None, None, 0)
    stats: list[float] = []
    if samples > 0 and metric is roc_auc:
        idx = _resamples(len(y), samples, seed)
        yy = y.astype(bool)[idx]
        d = _auc_rows(yy, a[idx]) - _auc_rows(yy, b[idx])
        stats = [float(v) for v in d if not np.isnan(v)]
    elif samples > 0:
        for idx in _resamples(len(y), samples, seed):
            va, vb = metric(y[idx], a[idx]), metric(y[idx], b[idx])
            if va is not None and vb is not None:
                stats.append(va - vb)
    if not stats:
        return Estimate(ma - mb, None, None, 0)
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return Estimate(ma - mb, float(lo), float(hi), len(stats))


__all__ = ["METRICS", "Estimate", "Interval", "RankedScores", "bootstrap", "bootstrap_ci", "bootstrap_metrics",
           "paired_difference", "pr_auc", "ranking_metrics", "roc_auc"]
