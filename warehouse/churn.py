"""Churn in the warehouse: features, labels, risk model, segments and the retention marts.

``run_churn(con, settings, as_of)`` reads ``core.*`` and writes, idempotently:

- ``analytics.customer_features``, ``analytics.churn_scores``, ``analytics.customer_segments``
  (delete-insert per as-of date: one row per customer per snapshot date),
- ``analytics.model_card`` (delete-insert per scoring as-of date),
- ``marts.customer_retention``, ``marts.cohort_retention``, ``marts.churn_by_segment`` (replaced).

Snapshot dates (month starts, so history and training share their features): the scoring date
``as_of``; the out-of-time test date, the latest month start whose label is fully observed
(``month + horizon <= as_of``); ``train_snapshots`` training month starts before it whose label
windows close by the test date; and the last ``history_months`` month starts with an observed label
(for ``marts.churn_by_segment``). The model trained on the training dates and tested on the test
date (the model card's metrics) is the one that writes the scores.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import time
from collections.abc import Callable

import duckdb
import numpy as np
import polars as pl

from transforms.churn_features import FEATURE_DESCRIPTIONS, LABEL_DESCRIPTIONS, churn_labels, compute_features
from transforms.churn_model import MODEL_FEATURES, ChurnModel, evaluate, top_reasons, train_model
from transforms.segments import abc_class, credit_grade, lifecycle_stage, pyramid, recommended_action, rfm
from warehouse.db import read_sql, transaction
from warehouse.errors import CrmwhError
from warehouse.settings import Settings

REQUIRED_TABLES: tuple[str, ...] = (
    "fct_sales_line", "dim_product", "dim_customer", "fct_service_ticket", "fct_interaction", "fct_payment",
)


class ChurnInputError(CrmwhError):
    """The core tables the churn step reads are missing or empty."""


SCORE_DESCRIPTIONS: dict[str, str] = {
    "customer_id": "customer business id",
    "as_of": "as-of date of the snapshot (features use data strictly before it)",
    "model_id": "model that produced the score (analytics.model_card.model_id)",
    "risk_score": "probability of churn in the next horizon days (settings.churn.horizon_days), 0-1; "
                  "NULL when no model could be trained",
    "risk_band": "low / medium / high by settings.churn.risk_band_cutoffs",
    "reason_1": "strongest reason behind the score, in plain words (scoring as-of date only; NULL on history "
                "snapshots)",
    "reason_2": "second reason",
    "reason_3": "third reason",
    "reasons": "all reasons joined with '; ' (NULL on history snapshots)",
    "is_active": "bought in the look-back window before the as-of date (the population the label covers)",
    "churned": "observed churn label for this snapshot (NULL when not yet observable or not active)",
}

SEGMENT_DESCRIPTIONS: dict[str, str] = {
    "customer_id": "customer business id",
    "as_of": "as-of date of the snapshot",
    "r_score": "recency score 1-5 (5 = most recent), mid-rank quintile among customers of the as-of date",
    "f_score": "frequency score 1-5 on orders_total",
    "m_score": "monetary score 1-5 on monetary_total",
    "rfm_code": "the three scores as text, e.g. '545'",
    "rfm_segment": "named RFM segment (settings.churn.rfm_segment_rules, first match; see docs/churn.md)",
    "value_365d": "current value: net revenue in the 365 days before the as-of date",
    "revenue_share_before": "share of total positive 365-day revenue held by the customers ranked above",
    "abc_class": "ABC class by cumulative revenue share (settings.churn.abc_bands: A first 80%, B to 90%, C rest)",
    "value_tier": "value tier read by other areas (mining splits baskets by it): the ABC class",
    "growth_potential": "growth potential: 1 - risk score (expected to keep buying); spend trend when unscored",
    "pyramid_tier": "customer pyramid: platinum (IV), gold (III), iron (II), lead (I)",
    "pyramid_action": "suggested action for the tier",
    "credit_grade": "credit grade A-D from repayment history (days late, overdue share); NULL without payments",
    "credit_grade_reason": "why the grade (or why none)",
    "lifecycle_stage": "exploration / formation / stability / decline (rules in docs/churn.md)",
}

MODEL_CARD_DESCRIPTIONS: dict[str, str] = {
    "model_id": "model identifier",
    "as_of": "scoring as-of date of the run",
    "trained_at": "when the model was trained",
    "status": "trained | not_trained",
    "note": "how the metrics were obtained, or why no model",
    "algorithm": "estimator and preprocessing",
    "horizon_days": "churn horizon H of the label",
    "lookback_days": "look-back window of the label",
    "train_as_of_first": "first training snapshot date",
    "train_as_of_last": "last training snapshot date",
    "train_snapshots": "number of training snapshot dates",
    "train_rows": "labelled rows used for training",
    "test_as_of": "out-of-time test snapshot date",
    "test_rows": "labelled rows in the test snapshot",
    "test_base_rate": "churn rate in the test snapshot",
    "roc_auc": "out-of-time ROC AUC",
    "pr_auc": "out-of-time PR AUC (average precision)",
    "brier": "out-of-time Brier score",
    "top_decile_lift": "churn rate in the top 10% of scores / base rate (test snapshot)",
    "features": "model features",
    "coefficients": "JSON: standardized logistic coefficient per feature of the scoring model",
    "scored_rows": "rows scored for the scoring as-of date",
}

RETENTION_DESCRIPTIONS: dict[str, str] = {
    "customer_id": "customer business id (no names, emails or phones in marts)",
    "as_of": "as-of date of the scores",
    "is_active": "bought in the look-back window (settings.churn.lookback_days)",
    "risk_score": "churn probability in the next horizon days (0-1)",
    "risk_band": "low / medium / high",
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
    "retention_offer": "top cross-sell recommendation to use as the retention offer (NULL when none)",
    "retention_offer_reason": "why that product (from marts.cross_sell_recommendations)",
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

TABLE_COMMENTS: dict[str, str] = {
    "analytics.customer_features": "grain: one row per customer per as-of date; point-in-time churn features "
                                   "(only data strictly before as_of)",
    "analytics.churn_scores": "grain: one row per customer per as-of date; churn risk score, band and reasons",
    "analytics.customer_segments": "grain: one row per customer per as-of date; RFM, ABC, pyramid, credit grade, "
                                   "lifecycle stage",
    "analytics.model_card": "grain: one row per scoring as-of date; churn model metrics (out of time) and inputs",
    "marts.customer_retention": "grain: one row per customer with a purchase before the latest scoring date; "
                                "churn risk, reasons, segments "
                                "and the recommended retention action. Churn = bought in the last lookback days "
                                "and no purchase in the next horizon days (docs/churn.md)",
    "marts.cohort_retention": "grain: one row per acquisition month per month since first purchase; "
                              "customers active, retention rate and revenue retained",
    "marts.churn_by_segment": "grain: one row per month per dimension per value; monthly churn rate by "
                              "segment, tier, region and acquisition channel",
}

COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "analytics.customer_features": FEATURE_DESCRIPTIONS,
    "analytics.churn_scores": SCORE_DESCRIPTIONS,
    "analytics.customer_segments": SEGMENT_DESCRIPTIONS,
    "analytics.model_card": MODEL_CARD_DESCRIPTIONS,
    "marts.customer_retention": RETENTION_DESCRIPTIONS,
    "marts.cohort_retention": COHORT_DESCRIPTIONS,
    "marts.churn_by_segment": CHURN_BY_SEGMENT_DESCRIPTIONS,
}


# Dates ------------------------------------------------------------------------------------------
def snapshot_dates(as_of: dt.date, settings: Settings) -> dict[str, list[dt.date]]:
    """The scoring, test, training and monthly history snapshot dates for a run (see the module doc)."""
    cs = settings.churn
    horizon = dt.timedelta(days=cs.horizon_days)

    def month_starts_until(last: dt.date, count: int) -> list[dt.date]:
        months: list[dt.date] = []
        month = last.replace(day=1)
        while len(months) < count:
            if month + horizon <= last:
                months.append(month)
            month = (month - dt.timedelta(days=1)).replace(day=1)
        return sorted(months)

    history = month_starts_until(as_of, max(cs.history_months, 1))
    test = history[-1]
    train = month_starts_until(test, cs.train_snapshots)
    return {"score": [as_of], "test": [test], "train": train, "history": history}


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
def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def apply_comments(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Table and column comments (the data dictionary is built from them)."""
    con.execute(f"comment on table {table} is {_sql_text(TABLE_COMMENTS[table])}")
    existing = {r[0] for r in con.execute(
        "select column_name from duckdb_columns() where schema_name = ? and table_name = ?",
        table.split(".")).fetchall()}
    for column, text in COLUMN_COMMENTS[table].items():
        if column in existing:
            con.execute(f"comment on column {table}.{column} is {_sql_text(text)}")


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
    apply_comments(con, table)
    return frame.height


def _add_new_columns(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Columns added to a snapshot table since it was created (older rows keep NULL there)."""
    schema, name = table.split(".")
    have = {r[0] for r in con.execute(
        "select column_name from duckdb_columns() where schema_name = ? and table_name = ?", [schema, name]
    ).fetchall()}
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
    apply_comments(con, table)
    return frame.height


# Steps ------------------------------------------------------------------------------------------
def _fit(data: pl.DataFrame, dates: dict[str, list[dt.date]], settings: Settings, as_of: dt.date
         ) -> tuple[ChurnModel | None, dict]:
    """Train on the training snapshots and test out of time; that model scores. Returns it and the card."""
    cs = settings.churn
    labelled = data.filter(pl.col("churned").is_not_null())
    train = labelled.filter(pl.col("as_of").is_in(dates["train"]))
    test = labelled.filter(pl.col("as_of").is_in(dates["test"]))
    card: dict = {
        "model_id": f"churn-logreg-{as_of.isoformat()}",
        "as_of": as_of,
        "trained_at": dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        "status": "not_trained",
        "note": "",
        "algorithm": "logistic regression (L2, Newton-Cholesky) on standardized features, log1p on counts/amounts/durations",
        "horizon_days": cs.horizon_days,
        "lookback_days": cs.lookback_days,
        "train_as_of_first": min(train["as_of"]) if train.height else None,
        "train_as_of_last": max(train["as_of"]) if train.height else None,
        "train_snapshots": train["as_of"].n_unique(),
        "train_rows": train.height,
        "test_as_of": dates["test"][0],
        "test_rows": test.height,
        "test_base_rate": None, "roc_auc": None, "pr_auc": None, "brier": None, "top_decile_lift": None,
        "features": list(MODEL_FEATURES),
        "coefficients": None,
    }
    try:
        model = train_model(train, seed=cs.model_seed, c=cs.model_c)
    except ValueError as exc:
        model = None
        card["note"] = f"no out-of-time evaluation: {exc}"
    if model is not None and test.height:
        metrics = evaluate(test["churned"].cast(pl.Int8).to_numpy(), model.predict(test))
        for key, value in (("test_base_rate", "base_rate"), ("roc_auc", "roc_auc"), ("pr_auc", "pr_auc"),
                           ("brier", "brier"), ("top_decile_lift", "top_decile_lift")):
            card[key] = None if math.isnan(metrics[value]) else round(metrics[value], 6)
        card["note"] = ("trained on the training snapshots, tested out of time on the test snapshot; "
                        "this model writes the scores")
    elif model is not None:
        card["note"] = "no labelled rows at the test snapshot: no out-of-time metrics; this model writes the scores"
    else:
        # no labelled training snapshot: fall back to the test snapshot alone (metrics would be in-sample)
        try:
            model = train_model(test, seed=cs.model_seed, c=cs.model_c)
            card["note"] += "; scores from a model fitted on the test snapshot alone (no out-of-time metrics)"
            card["train_as_of_first"] = card["train_as_of_last"] = dates["test"][0]
            card["train_snapshots"], card["train_rows"] = 1, test.height
        except ValueError as exc:
            card["note"] += f"; no model: {exc}"
            return None, card
    card["status"] = "trained"
    card["coefficients"] = json.dumps({f: round(float(c), 6) for f, c in zip(model.features, model.coef,
                                                                              strict=True)})
    return model, card


def _scores(model: ChurnModel | None, data: pl.DataFrame, settings: Settings, model_id: str,
            reasons_for: dt.date) -> pl.DataFrame:
    """Scores for every snapshot row; plain-word reasons for the rows of the ``reasons_for`` date."""
    low, high = settings.churn.risk_band_cutoffs
    n = data.height
    reason_cols = {name: pl.repeat(None, n, dtype=pl.String, eager=True) for name in
                   ("reason_1", "reason_2", "reason_3", "reasons")}
    if model is not None and n:
        risk = model.predict(data)
        rows = np.nonzero((data["as_of"] == reasons_for).to_numpy())[0]
        reasons = top_reasons(model, data[rows])
        for k, name in enumerate(("reason_1", "reason_2", "reason_3")):
            values = pl.Series([r[k] if len(r) > k else None for r in reasons], dtype=pl.String)
            reason_cols[name] = reason_cols[name].scatter(rows, values)
        reason_cols["reasons"] = reason_cols["reasons"].scatter(
            rows, pl.Series(["; ".join(r) for r in reasons], dtype=pl.String))
    else:
        risk = np.full(n, np.nan)
    band = np.where(np.isnan(risk), None, np.where(risk < low, "low", np.where(risk < high, "medium", "high")))
    return pl.DataFrame({
        "customer_id": data["customer_id"],
        "as_of": data["as_of"],
        "model_id": pl.repeat(model_id if model is not None else None, n, dtype=pl.String, eager=True),
        "risk_score": pl.Series(np.round(risk, 6)).fill_nan(None),
        "risk_band": pl.Series(band.tolist(), dtype=pl.String),
        **reason_cols,
        "is_active": data["active_in_lookback"].fill_null(False),
        "churned": data["churned"],
    })


def _segments(data: pl.DataFrame, scores: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    cs = settings.churn
    needed = ["customer_id", "as_of", "recency_days", "orders_total", "monetary_total", "monetary_365d",
              "trend_monetary_90d", "monetary_prev_90d", "payments_due_365d", "overdue_share_365d",
              "mean_days_late_365d", "recency_gap_ratio", "tenure_days", "orders_365d"]
    # scores are built row by row from data (same order): take the column instead of joining
    if not (scores["customer_id"].equals(data["customer_id"]) and scores["as_of"].equals(data["as_of"])):
        raise RuntimeError("churn scores are not aligned with their feature rows")
    frame = data.select(needed).with_columns(scores["risk_score"])
    frame = frame.with_columns(
        pl.col("monetary_365d").alias("value_365d"),
        pl.when(pl.col("risk_score").is_not_null()).then(1 - pl.col("risk_score"))
        .otherwise(pl.col("trend_monetary_90d")).alias("growth_potential"),
    )
    frame = rfm(frame, cs.rfm_segment_rules)
    frame = abc_class(frame, "value_365d", tuple(cs.abc_bands))
    frame = frame.with_columns(pl.col("abc_class").alias("value_tier"))
    frame = pyramid(frame, "value_365d", "growth_potential", cs.pyramid_value_quantile,
                    cs.pyramid_potential_quantile)
    frame = credit_grade(frame, tuple(cs.credit_max_overdue_share), tuple(cs.credit_max_mean_days_late))
    frame = lifecycle_stage(
        frame, decline_gap_ratio=cs.decline_gap_ratio, decline_trend=cs.decline_trend,
        decline_recency_days=cs.decline_recency_days, exploration_tenure_days=cs.exploration_tenure_days,
        exploration_max_orders=cs.exploration_max_orders, formation_tenure_days=cs.formation_tenure_days,
        formation_min_orders_365d=cs.formation_min_orders_365d)
    return frame.select(list(SEGMENT_DESCRIPTIONS))


def _customer_attributes(con: duckdb.DuckDBPyConnection, dates: list[dt.date]) -> pl.DataFrame:
    """Region, segment, channel and rep of each customer's dim_customer version valid at each date."""
    con.execute("create or replace temp table _churn_as_of (as_of date)")
    con.executemany("insert into _churn_as_of values (?)", [[d] for d in dates])
    return con.sql("""
        select a.as_of, c.customer_id::varchar as customer_id, c.region, c.segment as customer_segment,
               c.acquisition_channel, c.sales_rep_id::varchar as sales_rep_id
        from _churn_as_of as a
        inner join core.dim_customer as c
            on c.valid_from < a.as_of::timestamp and (c.valid_to is null or c.valid_to >= a.as_of::timestamp)
        where c.customer_id is not null and not coalesce(c.is_deleted, false)
        qualify row_number() over (partition by a.as_of, c.customer_id order by c.valid_from desc) = 1
    """).pl()


def _retention_offers(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    cols = {r[0] for r in con.execute(
        "select column_name from duckdb_columns() where schema_name = 'marts' "
        "and table_name = 'cross_sell_recommendations'").fetchall()}
    product = next((c for c in ("product_name", "product", "product_id") if c in cols), None)
    if "customer_id" not in cols or product is None:
        return None
    key = "product_id" if "product_id" in cols else product
    rank = "recommendation_rank" if "recommendation_rank" in cols else "null::integer"
    score = "score" if "score" in cols else "null::double"
    reason = "reason::varchar" if "reason" in cols else "rule::varchar" if "rule" in cols else "null::varchar"
    return con.sql(f"""
        select customer_id::varchar as customer_id, {product}::varchar as retention_offer,
               {reason} as retention_offer_reason
        from marts.cross_sell_recommendations
        qualify row_number() over (
            partition by customer_id order by {rank} nulls last, {score} desc nulls last, {key}) = 1
    """).pl()  # noqa: S608 - column names come from the catalog check above


def _churn_by_segment(scores: pl.DataFrame, segments: pl.DataFrame, attrs: pl.DataFrame,
                      months: list[dt.date]) -> pl.DataFrame:
    base = (scores.filter(pl.col("as_of").is_in(months) & pl.col("churned").is_not_null())
            .select("customer_id", "as_of", "churned")
            .join(segments.select("customer_id", "as_of", "rfm_segment", "pyramid_tier", "abc_class",
                                  "lifecycle_stage"), on=["customer_id", "as_of"], how="left")
            .join(attrs.select("customer_id", "as_of", "customer_segment", "region", "acquisition_channel"),
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


def _retention_mart(con: duckdb.DuckDBPyConnection, scores: pl.DataFrame, segments: pl.DataFrame,
                    attrs: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    now = (scores.filter(pl.col("as_of") == as_of)
           .join(segments.filter(pl.col("as_of") == as_of), on=["customer_id", "as_of"], how="left")
           .join(attrs.filter(pl.col("as_of") == as_of).drop("customer_segment"),
                 on=["customer_id", "as_of"], how="left"))
    offers = _retention_offers(con)
    if offers is not None:
        now = now.join(offers, on="customer_id", how="left")
    else:
        now = now.with_columns(pl.lit(None, dtype=pl.String).alias("retention_offer"),
                               pl.lit(None, dtype=pl.String).alias("retention_offer_reason"))
    actions = [recommended_action(r["risk_band"], r["pyramid_tier"], r["pyramid_action"], r["is_active"])
               for r in now.select("risk_band", "pyramid_tier", "pyramid_action", "is_active").iter_rows(named=True)]
    now = now.with_columns(pl.Series("recommended_action", actions, dtype=pl.String))
    return now.select(list(RETENTION_DESCRIPTIONS)).sort(
        pl.col("risk_score").fill_null(-1), "customer_id", descending=[True, False])


def run_churn(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date | None = None, *,
              timings: dict[str, float] | None = None) -> dict[str, int]:
    """Compute and write every churn table for ``as_of`` (default: the day after the last sale).

    ``timings``, when given, receives the wall seconds of each phase (for the benchmark).
    """
    timings = {} if timings is None else timings
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    check_inputs(con)
    as_of = as_of or default_as_of(con)
    previous_limit = None
    if settings.churn.memory_limit:
        previous_limit = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
        con.execute(f"set memory_limit = {_sql_text(settings.churn.memory_limit)}")
    try:
        return _run(con, settings, as_of, timings, lap)
    finally:
        if previous_limit is not None:
            con.execute(f"set memory_limit = {_sql_text(previous_limit)}")


def _run(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date, timings: dict[str, float],
         lap: Callable[[str], None]) -> dict[str, int]:
    cs = settings.churn
    dates = snapshot_dates(as_of, settings)
    all_dates = sorted({d for ds in dates.values() for d in ds})
    counts: dict[str, int] = {}
    # One transaction for every table; the features are written (and their frame freed) first.
    with transaction(con):
        features = compute_features(con, all_dates, sla_hours=settings.validation.first_response_sla_hours,
                                    slow_resolution_hours=cs.slow_resolution_hours,
                                    low_satisfaction_max=cs.low_satisfaction_max)
        lap("features")
        labels = churn_labels(con, all_dates, horizon_days=cs.horizon_days, lookback_days=cs.lookback_days,
                              data_end=as_of)
        lap("labels")
        counts["analytics.customer_features"] = _replace_snapshot_rows(
            con, "analytics.customer_features", features, all_dates)
        lap("write")
        data = features.join(labels.select("customer_id", "as_of", "active_in_lookback", "churned"),
                             on=["customer_id", "as_of"], how="left").sort("as_of", "customer_id")
        del features, labels
        model, card = _fit(data, dates, settings, as_of)
        lap("model")
        scores = _scores(model, data, settings, card["model_id"], reasons_for=as_of)
        lap("scores_and_reasons")
        card["scored_rows"] = scores.filter(pl.col("as_of") == as_of).height
        segments = _segments(data, scores, settings)
        del data
        attrs = _customer_attributes(con, all_dates)
        retention = _retention_mart(con, scores, segments, attrs, as_of)
        by_segment = _churn_by_segment(scores, segments, attrs, dates["history"])
        lap("segments")
        card_frame = pl.DataFrame([card], schema_overrides={
            "features": pl.List(pl.String), "coefficients": pl.String, "note": pl.String,
            "train_as_of_first": pl.Date, "train_as_of_last": pl.Date, "test_as_of": pl.Date, "as_of": pl.Date,
            "test_base_rate": pl.Float64, "roc_auc": pl.Float64, "pr_auc": pl.Float64, "brier": pl.Float64,
            "top_decile_lift": pl.Float64})
        counts["analytics.churn_scores"] = _replace_snapshot_rows(con, "analytics.churn_scores", scores, all_dates)
        counts["analytics.customer_segments"] = _replace_snapshot_rows(
            con, "analytics.customer_segments", segments, all_dates)
        counts["analytics.model_card"] = _replace_snapshot_rows(con, "analytics.model_card", card_frame, [as_of])
        counts["marts.customer_retention"] = _replace_table(con, "marts.customer_retention", retention)
        cohort = con.sql(read_sql("marts/cohort_retention.sql"), params={"as_of": as_of}).pl()
        counts["marts.cohort_retention"] = _replace_table(con, "marts.cohort_retention", cohort)
        counts["marts.churn_by_segment"] = _replace_table(con, "marts.churn_by_segment", by_segment)
        lap("write")
    return counts


__all__ = ["LABEL_DESCRIPTIONS", "ChurnInputError", "run_churn", "snapshot_dates"]
