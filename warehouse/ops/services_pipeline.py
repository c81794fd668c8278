"""Task functions of the ``crm_care`` DAG and of ``crmwh care`` (the same typed functions, in process or
through Airflow): the services marts, the week's care actions, then publish and the report.

Each step opens the working warehouse through ``warehouse_writer`` (one writer at a time) and returns a
small JSON-able summary. ``resolve_week`` names the week: the one asked for (any day of it), else the
week of the latest data in the warehouse.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from warehouse.analytics.care import Week
from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.errors import CrmwhError
from warehouse.foundation.settings import Settings


def resolve_week(settings: Settings, requested: str | dt.date | dt.datetime | None = None,
                 as_of: dt.date | None = None) -> Week:
    """The Monday-to-Sunday week to scan: the one containing ``requested``, else the week of the last day
    with data (the day before the analytics as-of date)."""
    from warehouse.ops.analytics_pipeline import resolve_as_of

    if requested:
        try:
            return Week.of(resolve_as_of(settings, requested))  # parses any date or timestamp
        except CrmwhError:
            raise CrmwhError(f"week {requested!r} is not a date (YYYY-MM-DD: any day of the week)") from None
    if as_of is None:
        as_of = resolve_as_of(settings)
    return Week.of(as_of - dt.timedelta(days=1))


def build_services_marts(settings: Settings, as_of: dt.date) -> dict[str, int]:
    """sales_funnel, contract_renewals (+ renewal_model_card) and service_sla as of ``as_of``."""
    from warehouse.analytics.services_marts import build_services_marts as build

    with warehouse_writer(settings) as con:
        return build(con, settings, as_of)


def care_actions(settings: Settings, week: Week) -> dict[str, Any]:
    """The week's care actions (analytics.care_actions for the week, marts.care_actions)."""
    from warehouse.analytics.care import run_care

    with warehouse_writer(settings) as con:
        result = run_care(con, settings, week)
    return {"week_start": week.start.isoformat(), "actions": result.actions, "by_rule": result.by_rule,
            "notes": result.notes}


def care_actions_for(settings: Settings, as_of: dt.date) -> dict[str, Any]:
    """The care actions of the week of the latest data before ``as_of`` (the ``crmwh pipeline`` step)."""
    return care_actions(settings, resolve_week(settings, None, as_of))


def run_care_week(settings: Settings, run_id: str, *, week: str | dt.date | None = None,
                  as_of: str | dt.date | None = None, publish: bool = True,
                  data_interval: tuple[dt.datetime | None, dt.datetime | None] | None = None) -> dict[str, Any]:
    """Everything ``crm_care`` does, in process and in order: services marts, care actions, publish, report."""
    from warehouse.ops.analytics_pipeline import publish_marts, resolve_as_of, write_report

    day = resolve_as_of(settings, as_of)
    scan = resolve_week(settings, week, day)
    summary: dict[str, Any] = {"as_of": day.isoformat(), "marts": build_services_marts(settings, day),
                               "care": care_actions(settings, scan)}
    if publish:
        summary["publish"] = publish_marts(settings, run_id, data_interval)
        summary["report"] = write_report(settings)
    return summary
