"""# crm_ingest

Daily load of the CRM warehouse: the operational CRM database (incremental by `updated_at`
watermark) and the landing folder's file drops -> `raw` -> `staging` -> validation (quarantine) ->
`core` star schema.

- Driven by the data interval: the interval end is the extraction cut-off (`updated_at <= end`);
  a backfill of a past interval re-reads from its start (minus the overlap window).
- Tasks: `extract_crm` and `extract_files` (one per source), `stage`, `validate`, `load_dimensions`,
  `load_facts`; every task that writes the warehouse takes the one slot of the warehouse pool.
- Emits the Assets of the core tables (declared once in `warehouse/ops/assets.py`); `crm_analytics`
  is scheduled on them.
- The same task functions run in-process with `crmwh run --start DATE --end DATE`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from warehouse.ops.airflow_env import DAG_DEFAULT_ARGS as DEFAULT_ARGS
from warehouse.ops.assets import DIMENSION_ASSETS, FACT_ASSETS


def _interval(data_interval_start: datetime | None, data_interval_end: datetime | None):
    from warehouse.ops.pipeline import Interval

    # the interval end is the cut-off; a manual `dags test DATE` run has start == end == DATE
    start = data_interval_start if data_interval_start != data_interval_end else None
    return Interval.parse(start, data_interval_end or datetime.now())


@dag(
    dag_id="crm_ingest",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["crmwh", "ingest"],
    doc_md=__doc__,
)
def crm_ingest():
    @task
    def extract_crm(data_interval_start=None, data_interval_end=None, run_id=None) -> list[str]:
        from warehouse.foundation.settings import get_settings
        from warehouse.ops.pipeline import extract_source

        return extract_source(get_settings(), "crm", _interval(data_interval_start, data_interval_end), run_id)

    @task
    def extract_files(run_id=None) -> list[str]:
        from warehouse.foundation.settings import get_settings
        from warehouse.ops.pipeline import extract_files as extract

        return extract(get_settings(), run_id)

    @task
    def stage(crm_batches: list[str], file_batches: list[str]) -> list[str]:
        from warehouse.foundation.settings import get_settings
        from warehouse.ops.pipeline import stage as stage_batches

        batch_ids = [*crm_batches, *file_batches]
        stage_batches(get_settings(), batch_ids)
        return batch_ids

    @task
    def validate(batch_ids: list[str]) -> list[str]:
        from warehouse.foundation.settings import get_settings
        from warehouse.ops.pipeline import validate as validate_batches

        validate_batches(get_settings(), batch_ids)
        return batch_ids

    @task(outlets=list(DIMENSION_ASSETS.values()))
    def load_dimensions(batch_ids: list[str]) -> list[str]:
        from warehouse.foundation.settings import get_settings
        from warehouse.ops.pipeline import load_dimensions as load

        load(get_settings(), batch_ids)
        return batch_ids

    @task(outlets=list(FACT_ASSETS.values()))
    def load_facts(batch_ids: list[str], data_interval_start=None, data_interval_end=None) -> dict:
        from warehouse.foundation.settings import get_settings
        from warehouse.ops.pipeline import batch_summary
        from warehouse.ops.pipeline import load_facts as load

        settings = get_settings()
        load(settings, batch_ids, _interval(data_interval_start, data_interval_end).end)
        rows = batch_summary(settings, batch_ids)
        return {key: sum(r[key] for r in rows) for key in ("rows_read", "rows_loaded", "rows_quarantined")}

    batches = stage(extract_crm(), extract_files())
    load_facts(load_dimensions(validate(batches)))


crm_ingest()
