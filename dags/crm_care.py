"""# crm_care

The weekly care scan of a services agency: who to call this week, why, by when, and what to offer.

- Scheduled early every Monday (05:00 UTC) **and** whenever `crm_ingest` updates the core facts it reads
  (Airflow's asset-or-time schedule; the Assets are declared once in `warehouse/ops/assets.py`).
- Tasks: `services_marts` (`marts.sales_funnel`, `marts.contract_renewals` with `marts.renewal_model_card`,
  `marts.service_sla`), `care_actions` (the rules of `warehouse/core/rules/care_rules.toml` for the week:
  `marts.care_actions`, one list per week in `analytics.care_actions`), `publish` (validated, into the
  read-only published file), `report` (the HTML report, with the funnel, renewals, SLA and care panels).
- The week: the `week` param (any day of it), else the run's logical date, else the week of the latest
  data. The list is computed from what the CRM knew on the week's Monday: re-running a week gives the
  same list.
- `as_of` param: the services marts' date (YYYY-MM-DD); empty = the day after the last sale.
- The same steps run in-process with `crmwh care [--week DATE]`
  (`warehouse.ops.services_pipeline.run_care_week`).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from warehouse.ops.airflow_env import DAG_DEFAULT_ARGS as DEFAULT_ARGS
from warehouse.ops.assets import PUBLISHED_ASSETS, SERVICES_FACT_ASSETS

WEEKLY = CronTriggerTimetable("0 5 * * 1", timezone="UTC")  # early Monday


@dag(
    dag_id="crm_care",
    schedule=AssetOrTimeSchedule(timetable=WEEKLY, assets=AssetAny(*SERVICES_FACT_ASSETS)),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "week": Param(None, type=["null", "string"], description="any day of the week to scan (YYYY-MM-DD); "
                                                               "empty = the run's logical date's week"),
        "as_of": Param(None, type=["null", "string"], description="services marts date YYYY-MM-DD; empty = "
                                                                  "the day after the last sale"),
    },
    tags=["crmwh", "services", "care", "publish"],
    doc_md=__doc__,
)
def crm_care():
    @task
    def services_marts(params=None) -> str:
        from warehouse.foundation.settings import get_settings
        from warehouse.ops.analytics_pipeline import resolve_as_of
        from warehouse.ops.services_pipeline import build_services_marts

        settings = get_settings()
        as_of = resolve_as_of(settings, (params or {}).get("as_of"))
        build_services_marts(settings, as_of)
        return as_of.isoformat()

    @task
    def care_actions(as_of: str, params=None, logical_date=None) -> dict:
        from datetime import date

        from warehouse.foundation.settings import get_settings
        from warehouse.ops.services_pipeline import care_actions as scan
        from warehouse.ops.services_pipeline import resolve_week

        settings = get_settings()
        week = resolve_week(settings, (params or {}).get("week") or logical_date, date.fromisoformat(as_of))
        return scan(settings, week)

    @task(outlets=list(PUBLISHED_ASSETS.values()))
    def publish(care: dict, run_id=None, data_interval_start=None, data_interval_end=None) -> dict:
        from warehouse.foundation.settings import get_settings
        from warehouse.ops.analytics_pipeline import publish_marts

        return publish_marts(get_settings(), run_id or f"care__{care['week_start']}",
                             (data_interval_start, data_interval_end))

    @task(pool="default_pool")
    def report(published: dict) -> str:
        from warehouse.foundation.settings import get_settings
        from warehouse.ops.analytics_pipeline import write_report

        return write_report(get_settings())

    report(publish(care_actions(services_marts())))


crm_care()
