"""Task functions of the ``crm_analytics`` DAG (also callable in-process): mining, churn, publish, report.

Each opens the working warehouse through ``warehouse_writer`` (the one-writer lock), does one step and
returns a small JSON-able summary for the DAG's XCom. The mining and churn modules are imported inside
the functions so this module (and the DAG) import even while those areas are being built.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.settings import Settings


def resolve_as_of(settings: Settings, requested: str | dt.date | None = None) -> dt.date:
    """The analytics as-of date: the one requested, else the day after the last sale in core."""
    if requested:
        if isinstance(requested, dt.datetime):
            return requested.date()
        if isinstance(requested, dt.date):
            return requested
        try:
            return dt.date.fromisoformat(str(requested)[:10])
        except ValueError:
            from warehouse.foundation.errors import CrmwhError

            raise CrmwhError(f"as_of {requested!r} is not a date (YYYY-MM-DD)") from None
    from warehouse.analytics.churn import default_as_of

    with warehouse_writer(settings) as con:
        return default_as_of(con)


def mine(settings: Settings, as_of: dt.date) -> dict[str, int]:
    """Association rules and the cross-sell marts (``warehouse.analytics.mining.run_mining``), then the recommender
    card: the same recommender backtested with the last ``recommender.holdout_days`` held out."""
    from warehouse.analytics.mining import run_mining
    from warehouse.analytics.recommender import RecommenderCache, refresh_card

    cache = RecommenderCache()  # the offers' history and blend cut are the card's when the cuts coincide
    with warehouse_writer(settings) as con:
        counts = {k: int(v) for k, v in run_mining(con, settings, as_of, recommender_cache=cache).items()}
        counts["marts.recommender_card"] = refresh_card(con, settings, as_of, cache)
        return counts


def score_churn(settings: Settings, as_of: dt.date) -> dict[str, int]:
    """Churn features, scores, segments and the retention marts (``warehouse.analytics.churn.run_churn``)."""
    from warehouse.analytics.churn import run_churn

    with warehouse_writer(settings) as con:
        return {k: int(v) for k, v in run_churn(con, settings, as_of).items()}


def publish_marts(settings: Settings, run_id: str,
                  data_interval: tuple[dt.datetime | None, dt.datetime | None] | None = None,
                  validation_status: str | None = None) -> dict[str, Any]:
    """Validate the marts against their suites, then publish whatever marts exist.

    ``warehouse.quality.validation.validate_marts`` is the gate: a critical failure raises
    ``CriticalValidationError`` (the task fails, the previously published version stays); mart
    warnings publish with status ``warning``. Otherwise the status is the one given, else the one
    recorded in ``audit`` (which now includes the marts' own results).
    """
    from warehouse.quality.validation import validate_marts
    from warehouse.quality.validation_status import validation_status_from_audit
    from warehouse.serve.publish import publish

    with warehouse_writer(settings) as con:
        outcomes = validate_marts(con, settings, run_id)
        status = validation_status or validation_status_from_audit(con)
        if status == "passed" and any(o.warnings for o in outcomes):
            status = "warning"
        manifest = publish(settings, run_id, data_interval, status, con=con)
    return {"version": manifest.version, "validation_status": manifest.validation_status,
            "row_counts": manifest.row_counts, "warnings": list(manifest.warnings)}


def write_report(settings: Settings) -> str:
    """The marketers' HTML report from the published version (reads only the published file)."""
    from warehouse.serve.report import write_report as write

    return str(write(settings))


def run_analytics(settings: Settings, run_id: str, as_of: str | dt.date | None = None,
                  data_interval: tuple[dt.datetime | None, dt.datetime | None] | None = None) -> dict[str, Any]:
    """Everything ``crm_analytics`` does, in-process and in order: mining, churn, publish, report."""
    day = resolve_as_of(settings, as_of)
    summary: dict[str, Any] = {"as_of": day.isoformat(), "mining": mine(settings, day),
                               "churn": score_churn(settings, day)}
    summary["publish"] = publish_marts(settings, run_id, data_interval)
    summary["report"] = write_report(settings)
    return summary

