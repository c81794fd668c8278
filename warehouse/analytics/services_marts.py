"""The services agency's marts: ``sales_funnel``, ``contract_renewals`` (with ``renewal_model_card``) and
``service_sla``.

``build_services_marts(con, settings, as_of)`` replaces the four tables in one transaction and returns
their row counts. The relational marts are SQL models (``sql/marts/sales_funnel.sql``,
``sql/marts/service_sla.sql``); the renewal model reads ``sql/analytics/contract_renewal_features.sql``
and is fitted and tested by ``transforms.renewal_model``. Every column has its description here (the
published data dictionary is built from them); no mart holds a name, e-mail or phone (customers and
employees appear by their business ids).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Any

import duckdb
import polars as pl

from transforms import renewal_model
from warehouse.core.model_spec import load_model
from warehouse.core.models import write_models
from warehouse.foundation.db import apply_comments, read_sql, transaction
from warehouse.foundation.settings import Settings

SALES_FUNNEL = "marts.sales_funnel"
CONTRACT_RENEWALS = "marts.contract_renewals"
RENEWAL_MODEL_CARD = "marts.renewal_model_card"
SERVICE_SLA = "marts.service_sla"

TABLE_COMMENTS: dict[str, str] = {
    SALES_FUNNEL: "grain: one row per lead-created month per lead channel per owner rep; leads, how many reached "
                  "each sales stage (skipped stages count as passed), stage-to-stage conversion, median days "
                  "between stages, win rate and pipeline value (docs/services.md)",
    CONTRACT_RENEWALS: "grain: one row per contract ending in the next renewal_horizon_days days that is not renewed "
                       "yet; renewal probability from the contractual model (marts.renewal_model_card), the drivers "
                       "in plain words, value at stake and owner rep, ordered by value at stake",
    RENEWAL_MODEL_CARD: "grain: one row per scorer (the renewal model and its baseline) per as-of date; out-of-time "
                        "test of the renewal model: ROC AUC with a bootstrap interval, PR AUC, Brier score, the same "
                        "rows for the baseline 'days late on the last filing' alone",
    SERVICE_SLA: "grain: one row per due month per service per process step per agent, plus tickets' first-response "
                 "SLA (service customer_service, step first_response); SLA attainment = met / (met + missed)",
}

COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    SALES_FUNNEL: {
        "month": "month the leads were created (their cohort)",
        "channel": "lead channel (acquisition channel: referral, web, campaign, partner, event ...)",
        "owner_rep_id": "employee id of the sales rep who owns the leads",
        "leads": "leads created",
        "opportunities": "of them, leads that became an opportunity",
        "reached_qualified": "opportunities that reached the qualified stage or beyond (skipped counts as passed)",
        "reached_proposal": "opportunities that reached the proposal stage or beyond",
        "reached_negotiation": "opportunities that reached the negotiation stage or beyond",
        "won": "opportunities won",
        "lost": "opportunities lost",
        "open_opportunities": "opportunities still open",
        "lead_to_opportunity_rate": "opportunities / leads",
        "opportunity_to_qualified_rate": "reached_qualified / opportunities",
        "qualified_to_proposal_rate": "reached_proposal / reached_qualified",
        "proposal_to_negotiation_rate": "reached_negotiation / reached_proposal",
        "negotiation_to_won_rate": "won / reached_negotiation",
        "lead_to_won_rate": "won / leads: the channel's conversion (recent cohorts still have open opportunities)",
        "win_rate": "won / (won + lost): closed opportunities that were won",
        "median_days_lead_to_opportunity": "median days from lead creation to opportunity",
        "median_days_new_to_qualified": "median days from entering new to first entering qualified",
        "median_days_qualified_to_proposal": "median days from first entering qualified to first entering proposal",
        "median_days_proposal_to_negotiation": "median days from first entering proposal to first entering negotiation",
        "median_days_negotiation_to_won": "median days from first entering negotiation to won",
        "median_days_to_win": "median days from opportunity creation to won",
        "open_pipeline_value": "amount of the open opportunities (currency of the source)",
        "won_value": "amount of the won opportunities",
    },
    CONTRACT_RENEWALS: {
        "contract_id": "contract number (core.fct_contract)",
        "customer_id": "customer business id",
        "product_id": "service contracted (product code)",
        "product_name": "service name as in the catalogue",
        "service_category": "service category (bookkeeping, tax_filing, payroll ...)",
        "owner_rep_id": "employee id of the sales rep who owns the contract",
        "end_date": "last day of the contract term",
        "days_to_end": "days from the as-of date to the end date",
        "auto_renew": "renews by itself unless the customer gives notice",
        "fee": "current fee per billing period",
        "renewal_fee": "fee quoted for the next term (NULL: no renewal notice sent yet)",
        "price_change_pct": "renewal quote (or today's list price when none was sent) over the current fee, minus 1",
        "late_filings": "late statutory filings for the customer in the window before the feature date",
        "complaints": "complaint tickets in that window",
        "days_late_last_filing": "days late of the customer's last filing before the feature date (the baseline)",
        "renewal_probability": "probability the contract is renewed (1 - the model's non-renewal risk); NULL without a model",
        "non_renewal_risk": "probability it is not renewed",
        "main_driver": "what raises the risk most, in plain words",
        "drivers": "the up to three strongest risk drivers, in plain words, joined with '; '",
        "value_at_stake": "a year of the next term's fees (renewal fee, else the current fee)",
        "expected_value_lost": "value_at_stake x non_renewal_risk",
        "as_of": "date the scores are as of (features use data before it)",
        "model_id": "model that scored (marts.renewal_model_card.model_id)",
    },
    RENEWAL_MODEL_CARD: {
        "as_of": "scoring date",
        "model_id": "id of the renewal model (same in marts.contract_renewals)",
        "scorer": "renewal_model, or the baseline baseline_days_late_last_filing",
        "role": "model | baseline",
        "status": "trained | insufficient_data",
        "roc_auc": "ROC AUC on the out-of-time test contracts (positive = not renewed)",
        "roc_auc_ci_low": "lower end of the 95% bootstrap interval of the ROC AUC",
        "roc_auc_ci_high": "upper end of the 95% bootstrap interval",
        "pr_auc": "average precision (area under the precision-recall curve)",
        "brier": "Brier score of the predicted probabilities (model only)",
        "roc_auc_vs_baseline": "model ROC AUC minus the baseline's on the same rows",
        "vs_baseline_ci_low": "lower end of the paired bootstrap interval of that difference",
        "vs_baseline_ci_high": "upper end of it",
        "train_rows": "training contracts (outcome known by the test start)",
        "train_not_renewed": "of them, not renewed",
        "test_rows": "test contracts (outcome known, ended in the test window)",
        "test_not_renewed": "of them, not renewed",
        "test_end_from": "first end date in the test window",
        "test_end_to": "last end date in the test window (exclusive)",
        "features": "model inputs",
        "coefficients": "standardized logistic-regression coefficients (JSON; positive = raises the risk)",
        "note": "how it was tested, or why there are no metrics",
    },
    SERVICE_SLA: {
        "month": "month the steps were due (tickets: opened)",
        "service": "service category, or customer_service for tickets",
        "process": "service process (warehouse/core/rules/service_sla.toml), or ticket",
        "step_number": "position of the step in its process",
        "step_code": "step (first_response for tickets)",
        "step_name": "step name from the SLA file",
        "agent_id": "employee id of the agent doing the work",
        "due": "steps due in the month (before the as-of date)",
        "done": "of them, done",
        "met": "done by the due time",
        "missed": "done late, or still open past the due time",
        "open_overdue": "still open past the due time",
        "attainment_rate": "met / (met + missed)",
        "median_days_late": "median days late of the missed ones",
        "mean_hours_to_complete": "mean hours from start to done (tickets: to the first response)",
    },
}


# writing -----------------------------------------------------------------------------------------
def replace_mart(con: duckdb.DuckDBPyConnection, table: str, data: pl.DataFrame | str,
                 params: dict[str, Any] | None = None) -> int:
    """``create or replace`` a mart from a frame or a SELECT, with its comments; returns its rows."""
    if isinstance(data, pl.DataFrame):
        con.register("_services_frame", data.to_arrow())
        try:
            con.execute(f"create or replace table {table} as select * from _services_frame")
        finally:
            with contextlib.suppress(duckdb.Error):
                con.unregister("_services_frame")
    else:
        con.execute(f"create or replace table {table} as {data}", params or {})
    apply_comments(con, table, TABLE_COMMENTS[table], COLUMN_COMMENTS[table])
    return int(con.execute(f"select count(*) from {table}").fetchall()[0][0])


# renewals ------------------------------------------------------------------------------------------
def renewal_features(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date) -> pl.DataFrame:
    sv = settings.services
    return con.sql(read_sql("analytics/contract_renewal_features.sql"), params={
        "as_of": as_of, "decision_days": sv.renewal_decision_days, "window_days": sv.renewal_window_days,
        "grace_days": sv.renewal_grace_days, "sla_hours": settings.validation.first_response_sla_hours}).pl()


def split_out_of_time(features: pl.DataFrame, settings: Settings, as_of: dt.date
                      ) -> tuple[pl.DataFrame, pl.DataFrame, dt.date, dt.date]:
    """(train, test, test_end_from, test_end_to): test = labelled contracts ending in the test window (their
    outcome became known in the last test_days); train = those whose outcome was known by its start."""
    sv = settings.services
    grace = dt.timedelta(days=sv.renewal_grace_days)
    test_to = as_of - grace
    test_from = test_to - dt.timedelta(days=sv.renewal_test_days)
    labelled = features.filter(pl.col("not_renewed").is_not_null())
    test = labelled.filter((pl.col("end_date") >= test_from) & (pl.col("end_date") < test_to))
    train = labelled.filter(pl.col("end_date") + grace <= test_from)
    return train, test, test_from, test_to


def _card_rows(ev: renewal_model.Evaluation, as_of: dt.date, model_id: str, test_from: dt.date,
               test_to: dt.date) -> pl.DataFrame:
    coefficients = (json.dumps({f: round(float(c), 4) for f, c in zip(renewal_model.FEATURES, ev.model.coefficients,
                                                                       strict=True)})
                    if ev.model is not None else None)
    metrics = ev.metrics or [{"scorer": "renewal_model", "role": "model"},
                             {"scorer": f"baseline_{renewal_model.BASELINE}", "role": "baseline"}]
    rows = []
    for m in metrics:
        rows.append({
            "as_of": as_of, "model_id": model_id, "scorer": m["scorer"], "role": m["role"], "status": ev.status,
            "roc_auc": m.get("roc_auc"), "roc_auc_ci_low": m.get("roc_auc_ci_low"),
            "roc_auc_ci_high": m.get("roc_auc_ci_high"), "pr_auc": m.get("pr_auc"), "brier": m.get("brier"),
            "roc_auc_vs_baseline": m.get("roc_auc_vs_baseline"), "vs_baseline_ci_low": m.get("vs_baseline_ci_low"),
            "vs_baseline_ci_high": m.get("vs_baseline_ci_high"), "train_rows": ev.train_rows,
            "train_not_renewed": ev.train_positives, "test_rows": ev.test_rows, "test_not_renewed": ev.test_positives,
            "test_end_from": test_from, "test_end_to": test_to,
            "features": list(renewal_model.FEATURES) if m["role"] == "model" else [renewal_model.BASELINE],
            "coefficients": coefficients if m["role"] == "model" else None, "note": ev.note,
        })
    floats = ("roc_auc", "roc_auc_ci_low", "roc_auc_ci_high", "pr_auc", "brier", "roc_auc_vs_baseline",
              "vs_baseline_ci_low", "vs_baseline_ci_high")
    return pl.DataFrame(rows, schema_overrides={**{f: pl.Float64 for f in floats}, "coefficients": pl.String,
                                                "features": pl.List(pl.String), "as_of": pl.Date,
                                                "test_end_from": pl.Date, "test_end_to": pl.Date,
                                                "train_rows": pl.Int64, "train_not_renewed": pl.Int64,
                                                "test_rows": pl.Int64, "test_not_renewed": pl.Int64})


def renewal_marts(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date
                  ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(contract_renewals, renewal_model_card) frames as of ``as_of``."""
    sv = settings.services
    features = renewal_features(con, settings, as_of)
    train, test, test_from, test_to = split_out_of_time(features, settings, as_of)
    ev = renewal_model.evaluate_out_of_time(train, test, c=sv.renewal_model_c, seed=sv.renewal_model_seed,
                                            samples=sv.bootstrap_samples, min_rows=sv.renewal_min_train_rows)
    model_id = f"renewal_logit_{as_of:%Y%m%d}"
    card = _card_rows(ev, as_of, model_id, test_from, test_to)
    horizon = as_of + dt.timedelta(days=sv.renewal_horizon_days)
    upcoming = features.filter((pl.col("end_date") >= as_of) & (pl.col("end_date") < horizon)
                               & pl.col("renewed_by_contract_id").is_null() & ~pl.col("is_terminated_early")
                               & (pl.col("status") != "terminated"))
    if ev.model is not None and upcoming.height:
        risk = ev.model.predict(upcoming)
        words = renewal_model.drivers(ev.model, upcoming)
    else:
        risk = [None] * upcoming.height
        words = [[f"no renewal model yet ({ev.note})"] for _ in range(upcoming.height)]
    names = con.execute("select product_id, name from core.dim_product where is_current").fetchall()
    product_names = dict(names)
    periods = {"monthly": 12, "quarterly": 4, "annual": 1}
    mart = upcoming.with_columns(
        pl.Series("non_renewal_risk", risk, dtype=pl.Float64),
        pl.Series("main_driver", [w[0] if w else "no risk signal: filings on time, no complaints, no price rise"
                                  for w in words], dtype=pl.String),
        pl.Series("drivers", ["; ".join(w) if w else None for w in words], dtype=pl.String),
    ).with_columns(
        (1 - pl.col("non_renewal_risk")).round(4).alias("renewal_probability"),
        pl.col("non_renewal_risk").round(4),
        ((pl.col("end_date") - pl.lit(as_of)).dt.total_days()).cast(pl.Int32).alias("days_to_end"),
        (pl.coalesce("renewal_fee", "fee").cast(pl.Float64)
         * pl.col("billing_period").replace_strict(periods, default=1, return_dtype=pl.Float64))
        .round(2).alias("value_at_stake"),
        pl.col("product_id").replace_strict(product_names, default=None, return_dtype=pl.String).alias("product_name"),
        pl.lit(as_of).alias("as_of"), pl.lit(model_id if ev.model is not None else None, dtype=pl.String).alias("model_id"),
        pl.col("price_change_pct").round(4),
    )
    mart = mart.with_columns((pl.col("value_at_stake") * pl.col("non_renewal_risk")).round(2).alias("expected_value_lost"))
    mart = mart.select(list(COLUMN_COMMENTS[CONTRACT_RENEWALS])).sort(
        ["value_at_stake", "contract_id"], descending=[True, False])
    return mart, card


def build_services_marts(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date) -> dict[str, int]:
    """Replace sales_funnel, contract_renewals, renewal_model_card and service_sla (one transaction)."""
    sla = {"as_of": as_of, "sla_hours": settings.validation.first_response_sla_hours}
    renewals, card = renewal_marts(con, settings, as_of)
    counts: dict[str, int] = {}
    with transaction(con):
        for name, params in (("marts/sales_funnel", {"as_of": as_of}), ("marts/service_sla", sla)):
            written = write_models(con, [load_model(name)], params=params)
            assert written is not None  # a mart model reads core tables only: always ready
            apply_comments(con, written.target, TABLE_COMMENTS[written.target], COLUMN_COMMENTS[written.target])
            counts[written.target] = written.rows
        counts[CONTRACT_RENEWALS] = replace_mart(con, CONTRACT_RENEWALS, renewals)
        counts[RENEWAL_MODEL_CARD] = replace_mart(con, RENEWAL_MODEL_CARD, card)
    return counts
