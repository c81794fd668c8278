"""# crm_analytics

Market-basket mining, churn scoring and publishing for BI tools and marketers.

- Scheduled on the core fact Assets that `crm_ingest` emits (declared once in `warehouse/ops/assets.py`):
  runs after every successful load.
- Tasks: `mining` (`warehouse.analytics.mining.run_mining`: rules, cross-sell marts), `churn`
  (`warehouse.analytics.churn.run_churn`: features, risk scores, segments, retention marts), `publish`
  (every `marts.*` table into a new read-only `published/marts.duckdb` + Parquet, with data
  dictionary and manifest, swapped in atomically; refused when validation failed or personal data
  would leak), `report` (the marketers' offline HTML report from the published version).
- Every task that writes the warehouse opens it through `warehouse_writer` (one writer) and takes the
  one slot of the warehouse pool.
- `as_of` param: the analytics date (YYYY-MM-DD); empty = the day after the last sale in core.
- The same steps run in-process with `warehouse.ops.analytics_pipeline.run_analytics`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from warehouse.ops.airflow_env import DAG_DEFAULT_ARGS as DEFAULT_ARGS
from warehouse.ops.assets import FACT_ASSETS, PUBLISHED_ASSETS


@dag(
    dag_id="crm_analytics",
    schedule=list(FACT_ASSETS.values()),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"as_of": Param(None, type=["null", "string"], description="analytics date YYYY-MM-DD; empty = "
                                                                          "the day after the last sale")},
    tags=["crmwh", "analytics", "publish"],
    doc_md=__doc__,
)
def crm_analytics():
    @task
    def mining(params=None) -> str:
        from warehouse.foundation.settings import get_settings
        from warehouse.ops.analytics_pipeline import mine, resolve_as_of

        settings = get_settings()
        as_of = resolve_as_of(settings, (params or {}).get("as_of"))
        mine(settings, as_of)
        return as_of.isoformat()

    @task
    def churn(as_of: str) -> str:
        from datetime import date

        from warehouse.foundation.settings import get_settings
        from warehouse.ops.analytics_pipeline import score_churn

        score_churn(get_settings(), date.fromisoformat(as_of))
        return as_of

    @task(outlets=list(PUBLISHED_ASSETS.values()))
    def publish(as_of: str, run_id=None, data_interval_start=None, data_interval_end=None) -> dict:
        from warehouse.foundation.settings import get_settings
        from warehouse.ops.analytics_pipeline import publish_marts

        return publish_marts(get_settings(), run_id or f"analytics__{as_of}",
                             (data_interval_start, data_interval_end))

    @task(pool="default_pool")
    def report(published: dict) -> str:
        from warehouse.foundation.settings import get_settings
        from warehouse.ops.analytics_pipeline import write_report

        return write_report(get_settings())

    report(publish(churn(mining())))


crm_analytics()
