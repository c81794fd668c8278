"""Who is scored, bands by capacity, the card's baselines on the same rows, and reasons vs RFM numbers."""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

CHURN_AS_OF = dt.date(2026, 1, 1)  # the as-of date of the churn_warehouse fixture (tests/sql/conftest.py)


def _now(con) -> pl.DataFrame:
    return con.sql(f"""
        select f.*, g.r_score, g.f_score, g.m_score, s.is_active, s.churned
        from analytics.customer_features as f
        join analytics.customer_segments as g using (customer_id, as_of)
        join analytics.churn_scores as s using (customer_id, as_of)
        where f.as_of = date '{CHURN_AS_OF}'""").pl()


def test_lapsed_customers_are_never_in_the_retention_ranking(churn_warehouse) -> None:
    con, _, _ = churn_warehouse
    horizon = con.execute("select any_value(horizon_days) from marts.model_card").fetchall()[0][0]
    now = _now(con)
    retention = con.sql("select customer_id, retention_rank, risk_rank from marts.customer_retention").pl()
    winback = con.sql("select customer_id, days_since_last_purchase, recommended_action from marts.customer_winback").pl()
    active = set(now.filter(pl.col("recency_days") <= horizon)["customer_id"])
    lapsed = set(now.filter(pl.col("recency_days") > horizon)["customer_id"])
    assert active and lapsed
    assert set(retention["customer_id"]) == active and set(winback["customer_id"]) == lapsed
    assert (winback["days_since_last_purchase"] > horizon).all()
    assert winback["recommended_action"].str.starts_with("win-back").all()
    assert sorted(retention["retention_rank"]) == list(range(1, retention.height + 1))
    # lapsed customers carry no risk score at all, so they can never top the risk ranking
    scored = con.execute(f"""select count(*) from analytics.churn_scores
        where as_of = date '{CHURN_AS_OF}' and not is_active and risk_score is not null""").fetchall()[0][0]
    assert scored == 0


def test_bands_hold_their_configured_shares(churn_warehouse) -> None:
    con, settings, _ = churn_warehouse
    bands = dict(con.execute("select risk_band, count(*) from marts.customer_retention group by 1").fetchall())
    n = sum(bands.values())
    high, medium = settings.churn.risk_band_shares
    assert bands["high"] == math.floor(high * n + 0.5)
    assert bands["high"] + bands["medium"] == math.floor(medium * n + 0.5)
    # the band follows the rank: every high-band risk is at least every medium-band risk
    worst_high, best_medium = con.execute("""select min(risk_score) filter (where risk_band = 'high'),
        max(risk_score) filter (where risk_band = 'medium') from marts.customer_retention""").fetchall()[0]
    assert worst_high >= best_medium


def test_model_card_baselines_are_on_the_same_rows(churn_warehouse) -> None:
    con, _, _ = churn_warehouse
    card = con.sql("select * from marts.model_card").pl()
    for scope in card["scope"].unique():
        rows = card.filter(pl.col("scope") == scope)
        assert rows["test_rows"].n_unique() == 1 and rows["test_positives"].n_unique() == 1, scope
        assert rows["test_base_rate"].n_unique() == 1
    # recompute the recency baseline at one origin from the published analytics tables
    origin = card.filter(pl.col("scope") != "pooled")["test_as_of"].max()
    rows = con.sql(f"""select f.recency_days, s.churned from analytics.customer_features as f
        join analytics.churn_scores as s using (customer_id, as_of)
        where f.as_of = date '{origin}' and s.is_active and s.churned is not null""").pl()
    recency = card.filter((pl.col("test_as_of") == origin) & (pl.col("model") == "recency")).to_dicts()[0]
    assert recency["test_rows"] == rows.height
    assert recency["roc_auc"] == round(roc_auc_score(rows["churned"].to_numpy(), rows["recency_days"].to_numpy()), 6)
    # paired differences: the published model's own difference is 0, the others' intervals bracket them
    for r in card.iter_rows(named=True):
        if r["selected"]:
            assert r["roc_auc_diff_vs_published"] == 0
        elif r["roc_auc_diff_ci_low"] is not None:
            assert r["roc_auc_diff_ci_low"] <= r["roc_auc_diff_vs_published"] <= r["roc_auc_diff_ci_high"]


PHRASES = {
    # reason pattern -> (feature holding the number, RFM score column, highest score allowed)
    r"^no purchase for (\d+) days$": ("recency_days", "r_score", 3),
    r"^only (\d+) orders? in the last 365 days$": ("orders_365d", "f_score", 2),
    r"^low spend: ([\d,.-]+) in the last 365 days$": ("monetary_365d", "m_score", 2),
    r"^no purchase for ([\d.]+)x the usual gap$": ("recency_gap_ratio", None, None),
    r"^(\d+) complaints? in 90 days$": ("complaints_90d", None, None),
    r"^(\d+) service tickets? in 90 days$": ("tickets_90d", None, None),
    r"^pays (\d+) days late on average$": ("mean_days_late_365d", None, None),
    r"^last satisfaction score (\d)/5$": ("last_satisfaction", None, None),
}


def test_reasons_never_contradict_the_customers_own_rfm_numbers(churn_warehouse) -> None:
    con, _, _ = churn_warehouse
    rows = con.sql(f"""
        select r.customer_id, r.reason_1, r.reason_2, r.reason_3, f.recency_days, f.orders_365d, f.monetary_365d,
               f.complaints_90d, f.tickets_90d, f.recency_gap_ratio, f.mean_days_late_365d, f.last_satisfaction,
               g.r_score, g.f_score, g.m_score
        from marts.customer_retention as r
        join analytics.customer_features as f on f.customer_id = r.customer_id and f.as_of = date '{CHURN_AS_OF}'
        join analytics.customer_segments as g on g.customer_id = r.customer_id and g.as_of = f.as_of""").pl()
    checked = 0
    for row in rows.iter_rows(named=True):
        reasons = [x for x in (row["reason_1"], row["reason_2"], row["reason_3"]) if x]
        assert reasons, row["customer_id"]  # never empty
        for text in reasons:
            for pattern, (feature, score, highest) in PHRASES.items():
                m = re.match(pattern, text)
                if not m:
                    continue
                checked += 1
                if feature is not None and m.groups():
                    said = float(m.group(1).replace(",", ""))
                    digits = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
                    assert said == round(float(row[feature]), digits), (text, row)
                if feature == "last_satisfaction":
                    assert row[feature] <= 3, (text, row)  # a good score is never a churn reason
                if score is not None:
                    assert row[score] <= highest, (text, row)  # e.g. no "only 1 order" for an F = 5 customer
    assert checked > 20


def test_value_at_risk_and_potential(churn_warehouse) -> None:
    con, _, _ = churn_warehouse
    rows = con.sql("select * from marts.customer_retention").pl()
    assert rows["predicted_value_12m"].null_count() == 0 and (rows["predicted_value_12m"] >= 0).all()
    assert (rows["value_if_retained"] >= rows["predicted_value_12m"] - 0.01).all()
    tiers = con.execute(f"""select pyramid_tier, count(*) from analytics.customer_segments
        where as_of = date '{CHURN_AS_OF}' group by 1""").fetchall()
    assert len(tiers) == 4  # quantile cut-offs fill all four tiers
    assert np.isclose(rows.sort("retention_rank")["value_at_risk"].to_numpy()[0], rows["value_at_risk"].max())
    assert dt.date.fromisoformat(str(rows["as_of"][0])) == CHURN_AS_OF
