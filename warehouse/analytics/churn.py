"""Churn in the warehouse: label, features, risk model and its card, bands, value, segments, marts.

``run_churn(con, settings, as_of)`` reads ``core.*`` and writes, idempotently:

- ``analytics.customer_features``, ``analytics.churn_scores``, ``analytics.customer_segments``
  (delete-insert per as-of date: one row per customer per snapshot date),
- ``analytics.model_card`` (delete-insert per scoring as-of date: one row per model per test origin,
  plus the pooled rows),
- ``marts.customer_retention`` (active customers ranked by value at risk), ``marts.customer_winback``
  (lapsed customers), ``marts.model_card``, ``marts.cohort_retention``, ``marts.churn_by_segment``.

The churn horizon H comes from the purchase cycle (``ChurnSettings``); snapshots are month starts:
the scoring date ``as_of``; the ``backtest_origins`` latest month starts whose label is observed
(``month + H <= as_of``), each with its training month starts (label windows closing by it); the
published model's training month starts (the latest labelled ones); and the last ``history_months``
labelled month starts (for ``marts.churn_by_segment``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from transforms.churn_backtest import (
    SILENT,
    GradientBoosting,
    Origin,
    card_rows,
    churn_from_label,
    score_origin,
    select_model,
)
from transforms.churn_model import (
    MODEL_FEATURES,
    ChurnModel,
    add_derived_features,
    capacity_bands,
    top_reasons,
    train_model,
)
from transforms.churn_value import PurchaseModel
from transforms.segments import (
    WIN_BACK_ACTION,
    abc_class,
    credit_grade,
    lifecycle_stage,
    pyramid,
    recommended_action,
    rfm,
)
from warehouse.analytics.churn_features import (
    FEATURE_DESCRIPTIONS,
    LABEL_DESCRIPTIONS,
    churn_labels,
    compute_features,
    label_horizon,
    purchase_cycle,
)
from warehouse.foundation.db import apply_comments, column_types, read_sql, transaction
from warehouse.foundation.errors import CrmwhError
from warehouse.foundation.settings import Settings
from warehouse.foundation.sqltext import quote_literal

REQUIRED_TABLES: tuple[str, ...] = (
    "fct_sales_line", "dim_product", "dim_customer", "fct_service_ticket", "fct_interaction", "fct_payment",
)


class ChurnInputError(CrmwhError):
    """The core tables the churn step reads are missing or empty."""


SCORE_DESCRIPTIONS: dict[str, str] = {
    "customer_id": "customer business id",
    "as_of": "as-of date of the snapshot (features use data strictly before it)",
    "model_id": "model that produced the score (analytics.model_card.model_id)",
    "risk_score": "churn risk: probability that the customer has stopped buying (published model), 0-1; "
                  "NULL when not active or no model could be trained",
    "p_no_purchase_horizon": "probability of no purchase in the next H days (the observed label's event): "
                             "risk + (1 - risk) x chance a buying customer stays silent that long",
    "risk_band": "high / medium / low by rank among the as-of date's active customers (settings.churn."
                 "risk_band_shares or high_risk_per_rep); NULL when not active",
    "reason_1": "strongest reason behind the score, in plain words (scoring as-of date only; NULL on history "
                "snapshots)",
    "reason_2": "second reason",
    "reason_3": "third reason",
    "reasons": "all reasons joined with '; ' (NULL on history snapshots)",
    "is_active": "bought in the look-back window (the churn horizon) before the as-of date: scored for retention",
    "churned": "observed churn label for this snapshot (NULL when not yet observable or not active)",
}

SEGMENT_DESCRIPTIONS: dict[str, str] = {
    "customer_id": "customer business id",
    "as_of": "as-of date of the snapshot",
    "r_score": "recency score 1-5 (5 = most recent), mid-rank quintile among customers of the as-of date",
    "f_score": "frequency score 1-5 on orders in the last 365 days",
    "m_score": "monetary score 1-5 on net spend in the last 365 days",
    "rfm_code": "the three scores as text, e.g. '545'",
    "rfm_segment": "named RFM segment (settings.churn.rfm_segment_rules, first match; see docs/churn.md)",
    "value_365d": "current value: net revenue in the 365 days before the as-of date",
    "revenue_share_before": "share of total positive 365-day revenue held by the customers ranked above",
    "abc_class": "ABC class by cumulative revenue share (settings.churn.abc_bands: A first 80%, B to 90%, C rest)",
    "value_tier": "value tier read by other areas (mining splits baskets by it): the ABC class",
    "predicted_value_12m": "predicted net spend in the next settings.churn.value_days days (BG/NBD purchases x "
                           "Gamma-Gamma spend, lifetimes)",
    "growth_potential": "growth potential: the predicted value (predicted_value_12m)",
    "pyramid_tier": "customer pyramid: platinum (IV), gold (III), iron (II), lead (I), by quantiles of current "
                    "value and predicted value",
    "pyramid_action": "suggested action for the tier",
    "credit_grade": "credit grade A-D from repayment history (days late, overdue share); NULL without payments",
    "credit_grade_reason": "why the grade (or why none)",
    "lifecycle_stage": "exploration / formation / stability / decline from the customer's own trend "
                       "(rules in docs/churn.md)",
}

MODEL_CARD_DESCRIPTIONS: dict[str, str] = {
    "model_id": "model identifier of the run (the published model writes analytics.churn_scores)",
    "as_of": "scoring as-of date of the run",
    "trained_at": "when the card was computed",
    "status": "trained | not_trained",
    "note": "how the metrics were obtained, why this model was published, or why no model",
    "label": "the churn label the metrics are computed on",
    "horizon_days": "churn horizon H of the label (from the purchase cycle unless set)",
    "horizon_source": "how H was set: the purchase-cycle quantile it came from, or the setting",
    "scope": "the test origin (YYYY-MM-DD) the row is about, or 'pooled' (all origins' test rows together)",
    "test_as_of": "test origin date (NULL on pooled rows)",
    "model": "recency | bgnbd | dropout | gbm",
    "description": "what the model is",
    "role": "published (writes the scores), candidate (could have been published) or baseline",
    "selected": "true for the published model",
    "train_as_of_first": "first training snapshot date",
    "train_as_of_last": "last training snapshot date",
    "train_rows": "labelled rows the candidates were trained on (sampled to backtest_max_train_rows per origin)",
    "test_rows": "labelled test rows (customers active at the origin); the same rows for every model",
    "test_positives": "churned customers among the test rows",
    "test_base_rate": "churn rate of the test rows",
    "roc_auc": "out-of-time ROC AUC on the observed label",
    "roc_auc_ci_low": "bootstrap interval, lower end (settings.churn.bootstrap_alpha)",
    "roc_auc_ci_high": "bootstrap interval, upper end",
    "roc_auc_diff_vs_published": "this model's ROC AUC minus the published model's, on the same rows",
    "roc_auc_diff_ci_low": "paired bootstrap interval of the difference, lower end",
    "roc_auc_diff_ci_high": "paired bootstrap interval of the difference, upper end",
    "pr_auc": "out-of-time PR AUC (average precision)",
    "pr_auc_ci_low": "bootstrap interval, lower end",
    "pr_auc_ci_high": "bootstrap interval, upper end",
    "brier": "out-of-time Brier score of the probability of the label (NULL for recency, not a probability)",
    "brier_ci_low": "bootstrap interval, lower end",
    "brier_ci_high": "bootstrap interval, upper end",
    "top_decile_lift": "churn rate in the top 10% of scores / base rate",
    "top_decile_lift_ci_low": "bootstrap interval, lower end",
    "top_decile_lift_ci_high": "bootstrap interval, upper end",
    "mean_predicted": "mean predicted probability of the label (calibration in the large: compare with the base rate)",
    "features": "the published model's features (after sign-stability drops)",
    "dropped_features": "features dropped because their fitted weight contradicted their declared direction",
    "coefficients": "JSON: standardized coefficient per feature of the dropout model (per origin; scoring model "
                    "on pooled rows)",
    "scored_rows": "active customers scored at the scoring as-of date",
}

RETENTION_DESCRIPTIONS: dict[str, str] = {
    "customer_id": "customer business id (no names, emails or phones in marts)",
    "as_of": "as-of date of the scores",
    "retention_rank": "1 = the most value at risk: the order to work the list in",
    "risk_score": "churn risk: probability that the customer has stopped buying (0-1, calibrated on the label)",
    "risk_rank": "rank by risk among the active customers (1 = riskiest)",
    "risk_band": "high / medium / low by rank and capacity (settings.churn.risk_band_shares / high_risk_per_rep)",
    "p_no_purchase_horizon": "probability of no purchase in the next H days",
    "predicted_value_12m": "predicted net spend in the next 12 months (BG/NBD x Gamma-Gamma)",
    "value_if_retained": "expected 12-month spend if the customer keeps buying (BG/NBD purchases given alive "
                         "x Gamma-Gamma spend)",
    "value_at_risk": "risk_score x value_if_retained: what losing the customer costs over the next 12 months",
    "reason_1": "strongest reason behind the score, in plain words",
    "reason_2": "second reason",
    "reason_3": "third reason",
    "reasons": "the reasons joined with '; '",
    "rfm_segment": "named RFM segment",
    "rfm_code": "R, F and M scores 1-5",
    "abc_class": "ABC class by cumulative revenue share",
    "pyramid_tier": "customer pyramid tier",
    "lifecycle_stage": "lifecycle stage",
    "credit_grade": "credit grade A-D (NULL without payment records)",
    "region": "customer region (current CRM record)",
    "acquisition_channel": "how the customer was acquired (current CRM record)",
    "sales_rep_id": "assigned sales rep (sales_rep_id of the customer's CRM record at the as-of date)",
    "recommended_action": "what to do, from risk band and pyramid tier (docs/churn.md)",
    "retention_offer": "product to offer: the top cross-sell recommendation, else the fallback (docs/churn.md)",
    "retention_offer_reason": "why that product",
    "retention_offer_source": "cross_sell (marts.cross_sell_recommendations) or popular_not_bought (fallback)",
}

WINBACK_DESCRIPTIONS: dict[str, str] = {
    "customer_id": "customer business id (no names, emails or phones in marts)",
    "as_of": "as-of date",
    "winback_rank": "1 = the most predicted value: the order to work the win-back list in",
    "days_since_last_purchase": "days since the last purchase (longer than the churn horizon)",
    "last_purchase_date": "day of the last purchase",
    "orders_total": "orders ever",
    "monetary_total": "net spend ever",
    "p_alive": "BG/NBD probability that the customer still buys now and then (lifetimes)",
    "predicted_value_12m": "predicted net spend in the next 12 months (BG/NBD x Gamma-Gamma)",
    "rfm_segment": "named RFM segment",
    "pyramid_tier": "customer pyramid tier",
    "region": "customer region (current CRM record)",
    "acquisition_channel": "how the customer was acquired (current CRM record)",
    "sales_rep_id": "assigned sales rep",
    "recommended_action": "the win-back action",
    "winback_offer": "product to offer (top cross-sell recommendation, else the fallback)",
    "winback_offer_reason": "why that product",
    "winback_offer_source": "cross_sell or popular_not_bought",
}

COHORT_DESCRIPTIONS: dict[str, str] = {
    "cohort_month": "acquisition month: month of the customer's first purchase",
    "months_since_first_purchase": "months between the acquisition month and the activity month (0 = acquisition)",
    "cohort_size": "customers acquired in the month",
    "customers_active": "cohort customers who bought in that month",
    "retention_rate": "customers_active / cohort_size",
    "revenue": "the cohort's net revenue in that month (returns negative)",
    "revenue_retained": "revenue / the cohort's revenue in its acquisition month",
}

CHURN_BY_SEGMENT_DESCRIPTIONS: dict[str, str] = {
    "month": "snapshot date: first day of the month; churn = no purchase in the next horizon days",
    "dimension": "what the rows are split by: all, rfm_segment, pyramid_tier, abc_class, lifecycle_stage, "
                 "customer_segment, region, acquisition_channel",
    "dimension_value": "the segment, tier, region or channel (as of the snapshot date)",
    "customers_active": "customers who bought in the look-back window before the month",
    "customers_churned": "of those, customers with no purchase in the next horizon days",
    "churn_rate": "customers_churned / customers_active",
}

DERIVED_FEATURE_DESCRIPTIONS: dict[str, str] = {
    "orders_expected_180d": "orders expected in the last 180 days at the customer's own earlier rate (orders "
                            "before that window / days as a customer before it; NULL with under 30 days of it)",
    "own_trend_180d": "ln((orders_180d + 0.5) / (orders_expected_180d + 0.5)): 0 = buying as usual, below 0 = "
                      "less than the customer's own history (NULL without earlier history)",
}

TABLE_COMMENTS: dict[str, str] = {
    "analytics.customer_features": "grain: one row per customer per as-of date; point-in-time churn features "
                                   "(only data strictly before as_of)",
    "analytics.churn_scores": "grain: one row per customer per as-of date; churn risk score, band and reasons",
    "analytics.customer_segments": "grain: one row per customer per as-of date; RFM, ABC, pyramid, credit grade, "
                                   "lifecycle stage",
    "analytics.model_card": "grain: one row per scoring as-of date per test origin (or pooled) per model; "
                            "rolling-origin backtest of the churn model against its baselines on the same rows",
    "marts.customer_retention": "grain: one row per active customer (bought within the churn horizon before the "
                                "scoring date); churn risk, band by capacity, value at risk, reasons, segments, "
                                "recommended action and offer, ranked by value at risk. Churn = no purchase in "
                                "the next H days, H from the purchase cycle (docs/churn.md)",
    "marts.customer_winback": "grain: one row per lapsed customer (no purchase within the churn horizon before "
                              "the scoring date); the win-back list, ranked by predicted value",
    "marts.model_card": "grain: one row per test origin (or pooled) per model, latest scoring date; how the "
                        "published churn risk was tested, against recency, BG/NBD and gradient boosting on the "
                        "same rows, with bootstrap intervals",
    "marts.cohort_retention": "grain: one row per acquisition month per month since first purchase; "
                              "customers active, retention rate and revenue retained",
    "marts.churn_by_segment": "grain: one row per month per dimension per value; monthly churn rate by "
                              "segment, tier, region and acquisition channel",
}

COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "analytics.customer_features": {**FEATURE_DESCRIPTIONS, **DERIVED_FEATURE_DESCRIPTIONS},
    "analytics.churn_scores": SCORE_DESCRIPTIONS,
    "analytics.customer_segments": SEGMENT_DESCRIPTIONS,
    "analytics.model_card": MODEL_CARD_DESCRIPTIONS,
    "marts.customer_retention": RETENTION_DESCRIPTIONS,
    "marts.customer_winback": WINBACK_DESCRIPTIONS,
    "marts.model_card": MODEL_CARD_DESCRIPTIONS,
    "marts.cohort_retention": COHORT_DESCRIPTIONS,
    "marts.churn_by_segment": CHURN_BY_SEGMENT_DESCRIPTIONS,
}

BGNBD_REASON_FEATURES: tuple[str, ...] = ("recency_days", "recency_gap_ratio", "orders_365d", "monetary_365d")

MODEL_TEXT: dict[str, str] = {
    "recency": "days since the last purchase (baseline ranking)",
    "bgnbd": "BG/NBD (lifetimes): probability of no purchase in the horizon from purchase history alone",
    "dropout": "dropout logistic model: P(stopped buying) from the features, with BG/NBD's chance that a buying "
               "customer stays silent (L2, L-BFGS, sign-stable features)",
    "gbm": "gradient boosting (scikit-learn HistGradientBoosting) on the same features and rate correction",
}


# Dates ------------------------------------------------------------------------------------------
def churn_horizon(con: duckdb.DuckDBPyConnection, as_of: dt.date, settings: Settings) -> tuple[int, str]:
    """The churn horizon H in days and how it was set (settings or the purchase cycle before ``as_of``)."""
    cs = settings.churn
    if cs.horizon_days > 0:
        return cs.horizon_days, "settings.churn.horizon_days"
    gap, n = purchase_cycle(con, as_of, cs.horizon_gap_quantile)
    horizon = label_horizon(gap, round_days=cs.horizon_round_days, min_days=cs.horizon_min_days,
                            max_days=cs.horizon_max_days)
    gap_text = "no repeat purchases" if gap is None else f"{gap:.0f} days"
    return horizon, (f"purchase cycle: {cs.horizon_gap_quantile:.0%} of {n} gaps between a customer's purchases "
                     f"are at most {gap_text}; rounded up to {cs.horizon_round_days} days within "
                     f"[{cs.horizon_min_days}, {cs.horizon_max_days}]")


def snapshot_dates(as_of: dt.date, settings: Settings, horizon_days: int | None = None) -> dict[str, list[dt.date]]:
    """The scoring, backtest, training and monthly history snapshot dates for a run (see the module doc).

    ``origins`` are the test dates (oldest first), ``train:<origin>`` their training dates,
    ``train`` the published model's training dates.
    """
    cs = settings.churn
    horizon = dt.timedelta(days=horizon_days or cs.horizon_days or cs.horizon_max_days)

    def month_starts_until(last: dt.date, count: int) -> list[dt.date]:
        months: list[dt.date] = []
        month = last.replace(day=1)
        while len(months) < count:
            if month + horizon <= last:
                months.append(month)
            month = (month - dt.timedelta(days=1)).replace(day=1)
        return sorted(months)

    history = month_starts_until(as_of, max(cs.history_months, cs.backtest_origins, 1))
    origins = history[-max(cs.backtest_origins, 1):]
    out: dict[str, list[dt.date]] = {"score": [as_of], "origins": origins, "history": history[-max(cs.history_months, 1):],
                                     "train": history[-cs.train_snapshots:]}
    for origin in origins:
        out[f"train:{origin.isoformat()}"] = month_starts_until(origin, cs.train_snapshots)
    out["test"] = [origins[-1]]
    return out


def default_as_of(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The day after the last sale in core (data strictly before it is complete)."""
    rows = con.execute("select max(order_ts)::date from core.fct_sales_line").fetchall()
    row = rows[0] if rows else None
    if row is None or row[0] is None:
        raise ChurnInputError("core.fct_sales_line has no rows: nothing to compute churn features from")
    return row[0] + dt.timedelta(days=1)


def check_inputs(con: duckdb.DuckDBPyConnection) -> None:
    present = {r[0] for r in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'core'").fetchall()}
    present |= {r[0] for r in con.execute(
        "select view_name from duckdb_views() where schema_name = 'core'").fetchall()}
    missing = [t for t in REQUIRED_TABLES if t not in present]
    if missing:
        raise ChurnInputError(f"churn needs core tables that are missing: {', '.join('core.' + t for t in missing)} "
                              "(load the warehouse first)")


# Writing ----------------------------------------------------------------------------------------
def _replace_snapshot_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame,
                           dates: list[dt.date]) -> int:
    con.register("_churn_frame", frame.to_arrow())
    try:
        con.execute(f"create table if not exists {table} as select * from _churn_frame limit 0")
        _add_new_columns(con, table)
        con.execute(f"delete from {table} where as_of in (select unnest(?::date[]))", [dates])
        con.execute(f"insert into {table} by name select * from _churn_frame")
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister("_churn_frame")
    apply_comments(con, table, TABLE_COMMENTS[table], COLUMN_COMMENTS[table])
    return frame.height


def _add_new_columns(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Columns added to a snapshot table since it was created (older rows keep NULL there)."""
    have = column_types(con, table)
    for column, column_type in con.execute("select column_name, column_type from (describe _churn_frame)").fetchall():
        if column not in have:
            con.execute(f'alter table {table} add column "{column}" {column_type}')


def _replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    con.register("_churn_frame", frame.to_arrow())
    try:
        con.execute(f"create or replace table {table} as select * from _churn_frame")
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister("_churn_frame")
    apply_comments(con, table, TABLE_COMMENTS[table], COLUMN_COMMENTS[table])
    return frame.height


# Steps ------------------------------------------------------------------------------------------
@dataclass
class PublishedModel:
    """The model that writes the scores (dropout, gbm or bgnbd) with the dropout model for the reasons."""

    name: str
    dropout: ChurnModel
    purchase: PurchaseModel
    horizon: int
    gbm: GradientBoosting | None = None
    explain: ChurnModel | None = None  # the model whose contributions become the reasons (default: dropout)
    # True when the data cannot tell stopping from slow buying (the fitted P(stopped buying) is flat):
    # the risk score is then the probability of no purchase in the horizon.
    label_risk: bool = False

    def risk(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(risk score, P(no purchase in the horizon)) per row; the risk is P(stopped buying) unless flat."""
        gone, p_label = self._risk(frame)
        return (p_label if self.label_risk else gone), p_label

    def _risk(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        silent = self.purchase.p_silent_if_alive(frame, self.horizon)
        if self.name == "gbm" and self.gbm is not None:
            p_label = self.gbm.predict_label(frame.with_columns(pl.Series(SILENT, silent)))
            return churn_from_label(p_label, silent), p_label
        if self.name == "bgnbd":
            return 1.0 - self.purchase.p_alive(frame), self.purchase.p_no_purchase(frame, self.horizon)
        p = self.dropout.predict(frame)
        return p, p + (1.0 - p) * silent


def _fit(data: pl.DataFrame, dates: dict[str, list[dt.date]], settings: Settings, as_of: dt.date,
         horizon: int, horizon_source: str, purchase: PurchaseModel | None,
         lap: Callable[[str], None]) -> tuple[PublishedModel | None, list[dict]]:
    """Backtest at every origin, pick the published model, train it on the latest labelled snapshots."""
    cs = settings.churn
    labelled = data.filter(pl.col("churned").is_not_null() & pl.col("is_active"))
    common: dict = {
        "model_id": f"churn-{as_of.isoformat()}", "as_of": as_of,
        "trained_at": dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        "status": "not_trained", "note": "",
        "label": f"active (bought in the last {horizon} days) and no purchase in the next {horizon} days",
        "horizon_days": horizon, "horizon_source": horizon_source,
    }
    origins: list[Origin] = []
    skipped: list[str] = []
    previous: dict[str, float] | None = None  # BG/NBD parameters of the previous origin: a warm start
    for origin_date in dates["origins"]:
        origin = Origin(origin_date, dates[f"train:{origin_date.isoformat()}"])
        at_origin = data.filter(pl.col("as_of") == origin_date)
        try:
            origin_purchase = PurchaseModel(at_origin, penalizer=cs.bgnbd_penalizer,
                                            max_customers=cs.bgnbd_max_customers, spend=False, seed=cs.model_seed,
                                            start=previous)
            previous = origin_purchase.params
            origins.append(score_origin(labelled, origin, origin_purchase, horizon, c=cs.model_c, seed=cs.model_seed,
                                        max_train_rows=cs.backtest_max_train_rows,
                                        max_test_rows=cs.backtest_max_test_rows))
        except ValueError as exc:
            skipped.append(f"{origin_date}: {exc}")
    lap("backtest")
    origins = [o for o in origins if o.y.size and 0 < o.y.sum() < o.y.size]
    selected, why = (select_model(origins, n_boot=cs.bootstrap_samples, seed=cs.model_seed, alpha=cs.bootstrap_alpha,
                                  margin=cs.selection_auc_margin)
                     if origins else ("dropout", "no origin with labelled test rows of both classes"))
    train = labelled.filter(pl.col("as_of").is_in(dates["train"]))
    model: PublishedModel | None = None
    if purchase is not None:
        if train.height > cs.model_max_train_rows:  # a fixed-seed sample fits the same weights, faster
            train = train.sample(n=cs.model_max_train_rows, seed=cs.model_seed).sort("as_of", "customer_id")
        train = train.with_columns(pl.Series(SILENT, purchase.p_silent_if_alive(train, horizon)))
        try:
            dropout = train_model(train, c=cs.model_c, seed=cs.model_seed)
            gbm = None
            if selected == "gbm":
                sample = train if train.height <= cs.backtest_max_train_rows else train.sample(
                    n=cs.backtest_max_train_rows, seed=cs.model_seed).sort("as_of", "customer_id")
                gbm = GradientBoosting(dropout, sample, seed=cs.model_seed)
            # BG/NBD published: the reasons are its own inputs (silence, frequency, spend), weighted by a
            # logistic regression on the same label
            explain = (train_model(train, silent=None, c=cs.model_c, features=BGNBD_REASON_FEATURES)
                       if selected == "bgnbd" else dropout)
            model = PublishedModel(selected, dropout, purchase, horizon, gbm, explain)
            gone, _ = model._risk(train)
            model.label_risk = bool(np.std(gone) < cs.flat_risk_std)
        except ValueError as exc:
            skipped.append(f"published model: {exc}")
    lap("model")
    features = list(model.dropout.features) if model else list(MODEL_FEATURES)
    dropped = list(model.dropout.dropped) if model else []
    scoring_coef = (json.dumps({f: round(float(c), 6) for f, c in zip(model.dropout.features, model.dropout.coef,
                                                                      strict=True)}) if model else None)
    note_parts = []
    if origins:
        note_parts.append(f"rolling-origin backtest at {len(origins)} test dates, {cs.bootstrap_samples} bootstrap "
                          f"replicates; published: {why}; the published model is refitted on the "
                          f"{len(dates['train'])} latest labelled snapshots")
    if model is not None and model.label_risk:
        note_parts.append("the data cannot tell customers who stopped buying from slow buyers (the fitted P(stopped "
                          f"buying) varies by less than {cs.flat_risk_std}): the risk score is the probability of "
                          f"no purchase in the next {horizon} days")
    if skipped:
        note_parts.append("skipped: " + "; ".join(skipped))
    if model is None:
        note_parts.append("no model: no scores")
    common.update(status="trained" if model else "not_trained", note=". ".join(note_parts) or "no labelled data",
                  features=features, dropped_features=dropped)
    if not origins:
        row = {**common, "scope": "pooled", "model": selected, "description": MODEL_TEXT[selected],
               "role": "published", "selected": True, "coefficients": scoring_coef}
        return model, [row]
    rows = card_rows(origins, selected, n_boot=cs.bootstrap_samples, seed=cs.model_seed, alpha=cs.bootstrap_alpha,
                     common=common, describe=MODEL_TEXT.__getitem__)
    by_origin = {o.test_as_of.isoformat(): json.dumps(o.coefficients) for o in origins}
    for row in rows:
        row["coefficients"] = by_origin.get(row["scope"], scoring_coef) if row["model"] == "dropout" else None
    lap("card")
    return model, rows


def _band_column(risk: np.ndarray, frame: pl.DataFrame, settings: Settings) -> list[str | None]:
    """Capacity bands per as-of date among the rows with a risk score."""
    cs = settings.churn
    bands = np.full(frame.height, None, dtype=object)
    as_of = frame["as_of"].to_numpy()
    ids = frame["customer_id"].to_numpy()
    reps = frame["sales_rep_id"].to_list() if "sales_rep_id" in frame.columns else None
    scored = ~np.isnan(risk)  # rows without a risk get no band: only the scored ones are ranked
    for day in np.unique(as_of):
        rows = np.nonzero((as_of == day) & scored)[0]
        bands[rows] = capacity_bands(risk[rows], ids[rows], tuple(cs.risk_band_shares),
                                     reps=[reps[i] for i in rows] if reps is not None else None,
                                     high_per_rep=cs.high_risk_per_rep)
    return bands.tolist()


def _scores(model: PublishedModel | None, data: pl.DataFrame, segments: pl.DataFrame, settings: Settings,
            model_id: str, reasons_for: dt.date) -> pl.DataFrame:
    """Scores and bands for every active snapshot row; plain-word reasons for the ``reasons_for`` date."""
    n = data.height
    active = data["is_active"].to_numpy()
    reason_cols = {name: pl.repeat(None, n, dtype=pl.String, eager=True) for name in
                   ("reason_1", "reason_2", "reason_3", "reasons")}
    risk = np.full(n, np.nan)
    p_label = np.full(n, np.nan)
    if model is not None and n:
        rows = np.nonzero(active)[0]
        r, pl_ = model.risk(data[rows])
        risk[rows], p_label[rows] = r, pl_
        now = np.nonzero(active & (data["as_of"] == reasons_for).to_numpy())[0]
        frame = data[now].with_columns(segments[now].select("r_score", "f_score", "m_score"))
        reasons = top_reasons(model.explain or model.dropout, frame)
        for k, name in enumerate(("reason_1", "reason_2", "reason_3")):
            values = pl.Series([x[k] if len(x) > k else None for x in reasons], dtype=pl.String)
            reason_cols[name] = reason_cols[name].scatter(now, values)
        reason_cols["reasons"] = reason_cols["reasons"].scatter(
            now, pl.Series(["; ".join(x) for x in reasons], dtype=pl.String))
    bands = _band_column(risk, data, settings)
    return pl.DataFrame({
        "customer_id": data["customer_id"],
        "as_of": data["as_of"],
        "model_id": pl.Series(np.where(np.isnan(risk), None, model_id if model else None).tolist(), dtype=pl.String),
        "risk_score": pl.Series(np.round(risk, 6)).fill_nan(None),
        "p_no_purchase_horizon": pl.Series(np.round(p_label, 6)).fill_nan(None),
        "risk_band": pl.Series(bands, dtype=pl.String),
        **reason_cols,
        "is_active": data["is_active"],
        "churned": data["churned"],
    })


def _segments(data: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """RFM, ABC, pyramid (current vs predicted value), credit grade and lifecycle per row (data's order)."""
    cs = settings.churn
    frame = data.select("customer_id", "as_of", "recency_days", "orders_total", "orders_365d", "orders_180d",
                        "orders_expected_180d", "monetary_total", "monetary_365d", "payments_due_365d",
                        "overdue_share_365d", "mean_days_late_365d", "tenure_days", "is_active",
                        "predicted_value_12m").with_row_index("_row")
    frame = frame.with_columns(pl.col("monetary_365d").alias("value_365d"),
                               pl.col("predicted_value_12m").alias("growth_potential"))
    frame = rfm(frame, cs.rfm_segment_rules)
    frame = abc_class(frame, "value_365d", tuple(cs.abc_bands))
    frame = frame.with_columns(pl.col("abc_class").alias("value_tier"))
    frame = pyramid(frame, "value_365d", "growth_potential", cs.pyramid_value_quantile, cs.pyramid_potential_quantile)
    frame = credit_grade(frame, tuple(cs.credit_max_overdue_share), tuple(cs.credit_max_mean_days_late))
    frame = lifecycle_stage(frame, decline_p_value=cs.decline_p_value,
                            exploration_tenure_days=cs.exploration_tenure_days,
                            exploration_max_orders=cs.exploration_max_orders,
                            formation_tenure_days=cs.formation_tenure_days)
    return frame.sort("_row").select(list(SEGMENT_DESCRIPTIONS))


def _customer_attributes(con: duckdb.DuckDBPyConnection, keys: pl.DataFrame) -> pl.DataFrame:
    """Region, segment, channel and rep of the dim_customer version valid at each (customer_id, as_of) of ``keys``.

    Only the rows the marts read are asked for (every customer at the scoring date, the labelled active
    ones at the history months): the versions of every customer at every snapshot date are not needed.
    """
    con.register("_churn_keys", keys.select("customer_id", "as_of").unique().to_arrow())
    try:
        con.execute("create or replace temp table _churn_attr_keys as select * from _churn_keys")
    finally:
        con.unregister("_churn_keys")
    return con.sql("""
        select k.as_of, k.customer_id, c.region, c.segment as customer_segment,
               c.acquisition_channel, c.sales_rep_id::varchar as sales_rep_id
        from _churn_attr_keys as k
        inner join core.dim_customer as c
            on c.customer_id::varchar = k.customer_id and c.valid_from < k.as_of::timestamp
            and (c.valid_to is null or c.valid_to >= k.as_of::timestamp)
        where not coalesce(c.is_deleted, false)
        qualify row_number() over (partition by k.as_of, k.customer_id order by c.valid_from desc) = 1
    """).pl()


def _cross_sell_offers(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """Each customer's top cross-sell recommendation (rank 1, else best score), when the mart exists."""
    cols = column_types(con, "marts.cross_sell_recommendations")
    product = next((c for c in ("product_name", "product", "product_id") if c in cols), None)
    if "customer_id" not in cols or product is None:
        return None
    key = "product_id" if "product_id" in cols else product
    rank = "recommendation_rank" if "recommendation_rank" in cols else "null::integer"
    score = "score" if "score" in cols else "null::double"
    reason = "reason::varchar" if "reason" in cols else "rule::varchar" if "rule" in cols else "null::varchar"
    return con.sql(f"""
        select customer_id::varchar as customer_id, {product}::varchar as offer, {reason} as offer_reason
        from marts.cross_sell_recommendations
        qualify row_number() over (
            partition by customer_id order by {rank} nulls last, {score} desc nulls last, {key}) = 1
    """).pl()  # noqa: S608 - column names come from the catalog check above


def _offers(con: duckdb.DuckDBPyConnection, customers: pl.Series, as_of: dt.date, settings: Settings) -> pl.DataFrame:
    """An offer for every customer given: the cross-sell recommendation, else the popular-not-bought fallback."""
    cs = settings.churn
    out = pl.DataFrame({"customer_id": customers.cast(pl.String)})
    cross = _cross_sell_offers(con)
    if cross is not None:
        out = out.join(cross, on="customer_id", how="left").with_columns(
            pl.when(pl.col("offer").is_not_null()).then(pl.lit("cross_sell")).alias("offer_source"))
    else:
        out = out.with_columns(pl.lit(None, dtype=pl.String).alias("offer"),
                               pl.lit(None, dtype=pl.String).alias("offer_reason"),
                               pl.lit(None, dtype=pl.String).alias("offer_source"))
    need = out.filter(pl.col("offer").is_null()).select("customer_id")
    if need.height:
        con.register("_churn_need", need.to_arrow())
        try:
            con.execute("create or replace temp table _churn_offer_customers as select * from _churn_need")
        finally:
            con.unregister("_churn_need")
        fallback = con.sql(read_sql("analytics/offer_fallback.sql"), params={
            "as_of": as_of, "popularity_days": cs.offer_popularity_days,
            "top_products": cs.offer_fallback_products}).pl()
        out = out.join(fallback.rename({"offer": "_fb", "offer_reason": "_fb_reason"}), on="customer_id",
                       how="left").with_columns(
            pl.coalesce("offer", "_fb").alias("offer"), pl.coalesce("offer_reason", "_fb_reason").alias("offer_reason"),
            pl.coalesce("offer_source", pl.when(pl.col("_fb").is_not_null()).then(pl.lit("popular_not_bought")))
            .alias("offer_source")).drop("_fb", "_fb_reason")
    return out


def _churn_by_segment(scores: pl.DataFrame, segments: pl.DataFrame, attrs: pl.DataFrame,
                      months: list[dt.date]) -> pl.DataFrame:
    in_months = pl.col("as_of").is_in(months)
    base = (scores.filter(in_months & pl.col("churned").is_not_null())
            .select("customer_id", "as_of", "churned")
            .join(segments.filter(in_months).select("customer_id", "as_of", "rfm_segment", "pyramid_tier",
                                                    "abc_class", "lifecycle_stage"),
                  on=["customer_id", "as_of"], how="left")
            .join(attrs.filter(in_months).select("customer_id", "as_of", "customer_segment", "region",
                                                 "acquisition_channel"),
                  on=["customer_id", "as_of"], how="left")
            .with_columns(pl.lit("all").alias("all")))
    parts = []
    for dim in ("all", "rfm_segment", "pyramid_tier", "abc_class", "lifecycle_stage", "customer_segment",
                "region", "acquisition_channel"):
        parts.append(base.group_by("as_of", pl.col(dim).fill_null("(unknown)").alias("dimension_value"))
                     .agg(pl.len().alias("customers_active"),
                          pl.col("churned").sum().alias("customers_churned"))
                     .with_columns(pl.lit(dim).alias("dimension")))
    if not parts or base.height == 0:
        return pl.DataFrame(schema={"month": pl.Date, "dimension": pl.String, "dimension_value": pl.String,
                                    "customers_active": pl.Int64, "customers_churned": pl.Int64,
                                    "churn_rate": pl.Float64})
    out = pl.concat(parts).rename({"as_of": "month"}).with_columns(
        pl.col("customers_active").cast(pl.Int64), pl.col("customers_churned").cast(pl.Int64),
        (pl.col("customers_churned") / pl.col("customers_active")).round(4).alias("churn_rate"))
    return out.select(list(CHURN_BY_SEGMENT_DESCRIPTIONS)).sort("month", "dimension", "dimension_value")


def _retention_mart(now: pl.DataFrame, offers: pl.DataFrame) -> pl.DataFrame:
    """Active customers at the scoring date, ranked by value at risk, each with an action and an offer."""
    now = now.filter(pl.col("is_active"))
    offers = offers.rename(
        {"offer": "retention_offer", "offer_reason": "retention_offer_reason", "offer_source": "retention_offer_source"})
    now = now.join(offers, on="customer_id", how="left")
    actions = [recommended_action(r["risk_band"], r["pyramid_tier"], r["pyramid_action"], True)
               for r in now.select("risk_band", "pyramid_tier", "pyramid_action").iter_rows(named=True)]
    now = now.with_columns(
        pl.Series("recommended_action", actions, dtype=pl.String),
        (pl.col("risk_score") * pl.col("value_if_retained")).round(2).alias("value_at_risk"))
    now = now.sort(["risk_score", "customer_id"], descending=[True, False], nulls_last=True).with_columns(
        pl.when(pl.col("risk_score").is_not_null()).then(pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
        .alias("risk_rank"))
    # without a model (no risk) the list falls back to predicted value
    now = now.sort(["value_at_risk", "predicted_value_12m", "customer_id"], descending=[True, True, False],
                   nulls_last=True).with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("retention_rank"))
    return now.select(list(RETENTION_DESCRIPTIONS))


def _winback_mart(now: pl.DataFrame, offers: pl.DataFrame) -> pl.DataFrame:
    """Lapsed customers at the scoring date (silent longer than the horizon), ranked by predicted value."""
    now = now.filter(~pl.col("is_active"))
    offers = offers.rename(
        {"offer": "winback_offer", "offer_reason": "winback_offer_reason", "offer_source": "winback_offer_source"})
    now = now.join(offers, on="customer_id", how="left").with_columns(
        pl.col("recency_days").alias("days_since_last_purchase"),
        pl.col("last_purchase_date"), pl.lit(WIN_BACK_ACTION).alias("recommended_action"))
    now = now.sort(["predicted_value_12m", "customer_id"], descending=[True, False], nulls_last=True).with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("winback_rank"))
    return now.select(list(WINBACK_DESCRIPTIONS))


def run_churn(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date | None = None, *,
              timings: dict[str, float] | None = None) -> dict[str, int]:
    """Compute and write every churn table for ``as_of`` (default: the day after the last sale).

    ``timings``, when given, receives the wall and CPU seconds of each phase (for the benchmark).
    """
    timings = {} if timings is None else timings
    clock, cpu = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal clock, cpu
        now, now_cpu = time.perf_counter(), time.process_time()
        timings[name] = timings.get(name, 0.0) + now - clock
        timings[f"{name} (cpu)"] = timings.get(f"{name} (cpu)", 0.0) + now_cpu - cpu
        clock, cpu = now, now_cpu

    check_inputs(con)
    as_of = as_of or default_as_of(con)
    previous_limit = None
    if settings.churn.memory_limit:
        previous_limit = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
        con.execute(f"set memory_limit = {quote_literal(settings.churn.memory_limit)}")
    try:
        return _run(con, settings, as_of, timings, lap)
    finally:
        if previous_limit is not None:
            con.execute(f"set memory_limit = {quote_literal(previous_limit)}")


def _purchase_model(data: pl.DataFrame, as_of: dt.date, settings: Settings) -> PurchaseModel | None:
    try:
        return PurchaseModel(data.filter(pl.col("as_of") == as_of), penalizer=settings.churn.bgnbd_penalizer,
                             max_customers=settings.churn.bgnbd_max_customers, seed=settings.churn.model_seed)
    except ValueError:
        return None


def _card_frame(rows: list[dict]) -> pl.DataFrame:
    schema = {c: pl.Float64 for c in MODEL_CARD_DESCRIPTIONS if c.startswith(("roc_auc", "pr_auc", "brier",
                                                                               "top_decile", "mean_pred"))}
    schema.update({"as_of": pl.Date, "test_as_of": pl.Date, "train_as_of_first": pl.Date, "train_as_of_last": pl.Date,
                   "trained_at": pl.Datetime("us"), "features": pl.List(pl.String),
                   "dropped_features": pl.List(pl.String), "test_base_rate": pl.Float64, "selected": pl.Boolean,
                   "train_rows": pl.Int64, "test_rows": pl.Int64, "test_positives": pl.Int64, "scored_rows": pl.Int64,
                   "horizon_days": pl.Int64})
    frame = pl.DataFrame([{c: r.get(c) for c in MODEL_CARD_DESCRIPTIONS} for r in rows],
                         schema={c: schema.get(c, pl.String) for c in MODEL_CARD_DESCRIPTIONS})
    return frame


def _run(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date, timings: dict[str, float],
         lap: Callable[[str], None]) -> dict[str, int]:
    cs = settings.churn
    horizon, horizon_source = churn_horizon(con, as_of, settings)
    lookback = cs.lookback_days or horizon
    dates = snapshot_dates(as_of, settings, horizon)
    all_dates = sorted({d for ds in dates.values() for d in ds})
    counts: dict[str, int] = {}
    # One transaction for every table; the features are written (and their frame freed) first.
    with transaction(con):
        features = add_derived_features(compute_features(
            con, all_dates, sla_hours=settings.validation.first_response_sla_hours,
            slow_resolution_hours=cs.slow_resolution_hours, low_satisfaction_max=cs.low_satisfaction_max))
        lap("features")
        labels = churn_labels(con, all_dates, horizon_days=horizon, lookback_days=lookback, data_end=as_of)
        lap("labels")
        counts["analytics.customer_features"] = _replace_snapshot_rows(
            con, "analytics.customer_features", features, all_dates)
        lap("write")
        data = (features.join(labels.select("customer_id", "as_of", "active_in_lookback", "churned"),
                              on=["customer_id", "as_of"], how="left")
                .with_columns(pl.col("active_in_lookback").fill_null(False).alias("is_active"))
                .sort("as_of", "customer_id"))
        del features, labels
        purchase = _purchase_model(data, as_of, settings)
        predicted = (purchase.predicted_value(data, cs.value_days) if purchase is not None
                     else np.full(data.height, np.nan))
        data = data.with_columns(pl.Series("predicted_value_12m", np.round(predicted, 2)).fill_nan(None))
        lap("value")
        model, card = _fit(data, dates, settings, as_of, horizon, horizon_source, purchase, lap)
        segments = _segments(data, settings)
        lap("segments")
        scores = _scores(model, data, segments, settings, card[0]["model_id"], reasons_for=as_of)
        lap("scores_and_reasons")
        scored_rows = scores.filter((pl.col("as_of") == as_of) & pl.col("risk_score").is_not_null()).height
        for row in card:
            row["scored_rows"] = scored_rows
        at_date = np.nonzero((data["as_of"] == as_of).to_numpy())[0]
        attrs = _customer_attributes(con, pl.concat([
            data[at_date].select("customer_id", "as_of"),
            scores.filter(pl.col("as_of").is_in(dates["history"]) & pl.col("churned").is_not_null())
            .select("customer_id", "as_of")]))
        now = (data[at_date].select("customer_id", "as_of", "recency_days", "last_purchase_date", "orders_total",
                                    "monetary_total", "predicted_value_12m")
               .hstack(scores[at_date].drop("customer_id", "as_of", "is_active").get_columns())
               .hstack(segments[at_date].drop("customer_id", "as_of", "predicted_value_12m").get_columns())
               .with_columns(scores[at_date]["is_active"])
               .join(attrs.filter(pl.col("as_of") == as_of).drop("customer_segment", "as_of"),
                     on="customer_id", how="left"))
        if purchase is not None:
            now = now.with_columns(
                pl.Series("value_if_retained", np.round(purchase.value_if_retained(data[at_date], cs.value_days), 2)),
                pl.Series("p_alive", np.round(purchase.p_alive(data[at_date]), 6)))
        else:
            now = now.with_columns(pl.lit(None, dtype=pl.Float64).alias("value_if_retained"),
                                   pl.lit(None, dtype=pl.Float64).alias("p_alive"))
        offers = _offers(con, now["customer_id"], as_of, settings)
        retention = _retention_mart(now, offers)
        winback = _winback_mart(now, offers)
        by_segment = _churn_by_segment(scores, segments, attrs, dates["history"])
        del data
        lap("marts")
        card_frame = _card_frame(card)
        counts["analytics.churn_scores"] = _replace_snapshot_rows(con, "analytics.churn_scores", scores, all_dates)
        counts["analytics.customer_segments"] = _replace_snapshot_rows(
            con, "analytics.customer_segments", segments, all_dates)
        counts["analytics.model_card"] = _replace_snapshot_rows(con, "analytics.model_card", card_frame, [as_of])
        counts["marts.customer_retention"] = _replace_table(con, "marts.customer_retention", retention)
        counts["marts.customer_winback"] = _replace_table(con, "marts.customer_winback", winback)
        # the published card holds no clock time, so a rerun of the same data publishes the same card
        counts["marts.model_card"] = _replace_table(con, "marts.model_card", card_frame.drop("trained_at"))
        cohort = con.sql(read_sql("marts/cohort_retention.sql"), params={"as_of": as_of}).pl()
        counts["marts.cohort_retention"] = _replace_table(con, "marts.cohort_retention", cohort)
        counts["marts.churn_by_segment"] = _replace_table(con, "marts.churn_by_segment", by_segment)
        lap("write")
    return counts


__all__ = ["LABEL_DESCRIPTIONS", "ChurnInputError", "churn_horizon", "run_churn", "snapshot_dates"]
