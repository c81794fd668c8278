"""Churn model: metrics by hand, deterministic training, the rate correction, reasons and capacity bands."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from transforms.churn_model import (
    MODEL_FEATURES,
    NO_WARNING_REASON,
    capacity_bands,
    evaluate,
    top_reasons,
    train_model,
)

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
                          "orders_180d": np.full(n, 3), "orders_expected_180d": np.full(n, 3.0),
                          "churned": churned})
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
    assert coef.get("recency_days", 0) + coef.get("recency_gap_ratio", 0) > 0.5  # collinear: one may be dropped
    assert coef.get("complaints_90d", 0) + coef.get("tickets_90d", 0) > 0.2
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
    # silence and tickets are one group each (collinear measures give one reason, not two)
    assert len(first) == 2
    assert "4 complaints in 90 days" in first or "4 service tickets in 90 days" in first
    assert any(r in first for r in ("no purchase for 6.0x the usual gap", "no purchase for 180 days"))
    # a recent, complaint-free customer gets no recency or complaint reason
    assert not any("complaint" in r or "usual gap" in r for r in reasons[1])
    assert top_reasons(model, probe) == reasons  # deterministic


def test_rate_correction_separates_slow_buyers_from_churners() -> None:
    """Silent slow buyers (high q) do not teach the model that silence is churn; complaints still do."""
    rng = np.random.default_rng(7)
    n = 4000
    complaints = rng.poisson(0.5, n)
    gone = rng.uniform(size=n) < 1 / (1 + np.exp(-(-2.5 + 1.2 * complaints)))
    slow = rng.uniform(size=n) < 0.5  # half the customers buy rarely: silent by chance most of the time
    q = np.where(slow, 0.7, 0.05)
    label = gone | (rng.uniform(size=n) < q)
    frame = population(n, seed=7).with_columns(
        pl.Series("complaints_90d", complaints), pl.Series("tickets_90d", complaints),
        pl.Series("orders_365d", np.where(slow, 1.0, 8.0)), pl.Series("churned", label),
        pl.Series("p_silent_if_alive", q))
    plain = train_model(frame, silent=None)
    mixed = train_model(frame)
    truth = gone.astype(int)
    auc_plain = evaluate(truth, plain.predict(frame))["roc_auc"]
    auc_mixed = evaluate(truth, mixed.predict(frame))["roc_auc"]
    assert auc_mixed > auc_plain + 0.05, (auc_plain, auc_mixed)
    coef = dict(zip(mixed.features, mixed.coef, strict=True))
    assert abs(coef.get("orders_365d", 0.0)) < 0.15 < coef["complaints_90d"]
    # the label probability adds the silent-by-chance share back: calibrated on the observed label
    assert mixed.predict_label(frame, q).mean() == pytest.approx(label.mean(), abs=0.02)


def test_signs_follow_the_declared_direction() -> None:
    data = population()
    # a collinear twin of recency with a flipped meaning would get a negative weight: it is dropped instead
    twin = data.with_columns((pl.col("recency_days") * -1 + 300).alias("tenure_days"))
    model = train_model(twin, silent=None)
    coef = dict(zip(model.features, model.coef, strict=True))
    from transforms.churn_model import FEATURE_DIRECTION

    assert all(b * FEATURE_DIRECTION[f] >= -1e-6 for f, b in coef.items())
    assert "tenure_days" in model.dropped or coef.get("tenure_days", 0) <= 0


def test_no_empty_reasons() -> None:
    data = population()
    model = train_model(data, silent=None)
    calm = data.head(1).with_columns(pl.lit(1).alias("recency_days"), pl.lit(0.03).alias("recency_gap_ratio"),
                                     pl.lit(0).alias("complaints_90d"), pl.lit(0).alias("tickets_90d"))
    assert top_reasons(model, calm) == [[NO_WARNING_REASON]]


def test_capacity_bands_hold_their_shares_with_ties() -> None:
    risk = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1, np.nan, 0.5])
    ids = [f"c{i:02d}" for i in range(len(risk))]
    bands = capacity_bands(risk, ids, (0.2, 0.5))
    assert bands[9] is None  # unscored
    assert bands.count("high") == 2 and bands.count("medium") == 3 and bands.count("low") == 5  # of 10 scored
    assert bands[0] == "high" and bands[1] == "high"  # the tie at 0.5 is broken by customer id
    assert [bands[i] for i in (2, 3, 4)] == ["medium"] * 3 and bands[8] == "low"
    # all equal: the shares still hold, by id
    flat = capacity_bands(np.full(20, 0.3), [f"c{i:02d}" for i in range(20)], (0.1, 0.3))
    assert flat[:2] == ["high", "high"] and flat.count("high") == 2 and flat.count("medium") == 4
    assert capacity_bands(risk, ids, (0.2, 0.5)) == bands  # deterministic
    with pytest.raises(ValueError):
        capacity_bands(risk, ids, (0.6, 0.5))


def test_capacity_bands_per_rep() -> None:
    risk = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    reps = ["E1", "E1", "E1", "E2", "E2", None]
    bands = capacity_bands(risk, [f"c{i}" for i in range(6)], (0.0, 0.5), reps=reps, high_per_rep=1)
    assert bands[0] == "high" and bands[3] == "high"  # each rep's riskiest customer
    assert bands.count("high") == 2 and bands.count("medium") == 1  # medium fills up to half of 6
