"""Bootstrap evaluation helpers: metrics equal scikit-learn's, weights equal repeated rows, paired intervals."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from transforms.evaluation import RankedScores, bootstrap_metrics


def _data(n: int = 500, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n) < 0.3).astype(int)
    s = np.round(np.clip(0.3 + 0.3 * y + rng.normal(0, 0.25, n), 0, 1), 1)  # rounded: many ties
    return y, s


def test_metrics_match_scikit_learn_with_ties() -> None:
    y, s = _data()
    m = RankedScores(y, s).metrics()
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, s))
    assert m["brier"] == pytest.approx(brier_score_loss(y, s))
    assert m["base_rate"] == pytest.approx(y.mean())


def test_weights_are_repeated_rows() -> None:
    y, s = _data(200)
    w = np.arange(200) % 3  # 0, 1 or 2 copies
    weighted = RankedScores(y, s).metrics(w.astype(float))
    repeated = RankedScores(np.repeat(y, w), np.repeat(s, w)).metrics()
    for key in ("roc_auc", "pr_auc", "brier", "base_rate"):
        assert weighted[key] == pytest.approx(repeated[key]), key


def test_bootstrap_intervals_and_paired_differences() -> None:
    y, s = _data(800)
    rng = np.random.default_rng(3)
    worse = s + rng.normal(0, 0.4, s.size)
    out = bootstrap_metrics(y, {"good": s, "same": s.copy(), "worse": worse}, n_boot=150, seed=4, reference="good")
    good = out["good"]["roc_auc"]
    assert good.low < good.value < good.high
    same = out["same"]["roc_auc_diff"]
    assert same.value == same.low == same.high == 0  # identical models: no difference in any replicate
    diff = out["worse"]["roc_auc_diff"]
    assert diff.high < 0 and diff.excludes_zero()  # clearly worse on the same rows
    again = bootstrap_metrics(y, {"good": s, "same": s.copy(), "worse": worse}, n_boot=150, seed=4, reference="good")
    assert again["worse"]["roc_auc_diff"] == diff  # deterministic for a seed
    with pytest.raises(ValueError):
        bootstrap_metrics(y, {"a": s}, reference="b")

