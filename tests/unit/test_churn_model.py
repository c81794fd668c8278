"""Churn model: metrics by hand, deterministic training and plain-word reasons."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from transforms.churn_model import MODEL_FEATURES, evaluate, risk_band, top_reasons, train_model

D = dt.date(2025, 1, 1)


def population(n: int = 400, seed: int = 3) -> pl.DataFrame:
    """Customers whose churn depends on recency and complaints."""
    rng = np.random.default_rng(seed)
    recency = rng.integers(1, 200, n)
    complaints = rng.poisson(1.0, n)
    logit = -3 + recency / 40 + 0.8 * complaints
    churned = rng.uniform(0, 1, n) < 1 / (1 + np.exp(-logit))
    cols = {name: np.zeros(n) for name in MODEL_FEATURES}
    cols.update({
        "recency_days": recency, "complaints_90d": complaints, "tickets_90d": complaints,
        "recency_gap_ratio": recency / 30.0, "mean_gap_days": np.full(n, 30.0), "tenure_days": np.full(n, 400),
        "orders_90d": np.maximum(0, 3 - recency // 60), "orders_365d": np.full(n, 6),
        "monetary_365d": np.full(n, 100.0), "last_satisfaction": np.full(n, 4.0),
    })
    frame = pl.DataFrame({"customer_id": [f"c{i:04d}" for i in range(n)], "as_of": [D] * n,
                          **{k: v.astype(float) for k, v in cols.items()},
                          "orders_prev_90d": np.full(n, 2), "monetary_90d": np.full(n, 50.0),
                          "monetary_prev_90d": np.full(n, 50.0), "churned": churned})
    return frame.with_columns(pl.col("last_satisfaction").cast(pl.Int16), pl.col("recency_days").cast(pl.Int64),
                              pl.col("complaints_90d").cast(pl.Int64), pl.col("tickets_90d").cast(pl.Int64))


def test_evaluate_by_hand() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    m = evaluate(y, s)
    # positives at ranks 1 and 3: AUC = pairs won / 16 = (8 + 7) / 16
    assert m["roc_auc"] == pytest.approx(15 / 16)
    assert m["base_rate"] == pytest.approx(0.2)
    assert m["top_decile_lift"] == pytest.approx(1.0 / 0.2)  # top 10% = 1 row, churned
    assert m["brier"] == pytest.approx(np.mean((s - y) ** 2))
    assert m["pr_auc"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_training_is_deterministic_and_learns_the_drivers() -> None:
    data = population()
    a, b = train_model(data, seed=1), train_model(data.sample(fraction=1.0, shuffle=True, seed=5), seed=1)
    assert np.allclose(a.coef, b.coef) and a.intercept == pytest.approx(b.intercept)
    coef = dict(zip(a.features, a.coef, strict=True))
    assert coef["recency_days"] + coef["recency_gap_ratio"] > 0.5
    assert coef["complaints_90d"] + coef["tickets_90d"] > 0.2
    assert evaluate(data["churned"].cast(pl.Int8).to_numpy(), a.predict(data))["roc_auc"] > 0.75


def test_one_class_cannot_train() -> None:
    with pytest.raises(ValueError, match="churned and retained"):
        train_model(population().with_columns(pl.lit(False).alias("churned")))


def test_reasons_in_plain_words() -> None:
    data = population()
    model = train_model(data)
    probe = data.head(2).with_columns(
        pl.Series("recency_days", [180, 2]), pl.Series("recency_gap_ratio", [6.0, 0.1]),
        pl.Series("complaints_90d", [4, 0]), pl.Series("tickets_90d", [4, 0]), pl.Series("orders_90d", [0.0, 3.0]))
    reasons = top_reasons(model, probe)
    first = reasons[0]
    assert len(first) == 3
    assert "4 complaints in 90 days" in first or "4 service tickets in 90 days" in first
    assert any(r in first for r in ("no purchase for 6.0x the usual gap", "no purchase for 180 days",
                                    "no order in the last 90 days"))
    # a recent, complaint-free customer gets no recency or complaint reason
    assert not any("complaint" in r or "usual gap" in r for r in reasons[1])
    assert top_reasons(model, probe) == reasons  # deterministic


def test_risk_band() -> None:
    assert [risk_band(x, (0.3, 0.6)) for x in (0.0, 0.3, 0.59, 0.6, 1.0)] == ["low", "medium", "medium", "high", "high"]
    assert risk_band(None, (0.3, 0.6)) is None and risk_band(float("nan"), (0.3, 0.6)) is None
