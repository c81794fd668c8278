"""The crm_care DAG: weekly early on Monday or when the core facts change, one writer at a time; one real
`airflow dags test crm_care` run on the hand-made services source."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import duckdb
import pytest

from warehouse.foundation.settings import DAGS_DIR
from warehouse.ops.airflow_env import WAREHOUSE_POOL
from warehouse.ops.assets import FACT_ASSETS, PUBLISHED_ASSETS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture(scope="module")
def dag():
    spec = importlib.util.spec_from_file_location("crm_care_under_test", DAGS_DIR / "crm_care.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.crm_care()


def test_weekly_on_monday_morning_or_when_the_core_facts_change(dag) -> None:
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    assert dag.dag_id == "crm_care" and dag.max_active_runs == 1 and not dag.catchup
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    weekly = dag.timetable.timetable
    assert isinstance(weekly, CronTriggerTimetable) and weekly.expression == "0 5 * * 1"
    uris = {a.uri for a in dag.timetable.asset_condition.objects}
    assert {FACT_ASSETS[t].uri for t in ("fct_contract", "fct_service_step", "fct_lead")} <= uris
    assert type(dag.timetable.asset_condition).__name__ == "AssetAny"  # any of them, not all
    assert {"week", "as_of"} <= set(dag.params)


def test_tasks_build_the_marts_then_the_care_list_then_publish_then_report(dag) -> None:
    order = ["services_marts", "care_actions", "publish", "report"]
    assert set(dag.task_ids) == set(order)
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    for task_id in order[:3]:
        assert dag.get_task(task_id).pool == WAREHOUSE_POOL
    assert dag.get_task("report").pool != WAREHOUSE_POOL
    outlets = {a.uri for a in dag.get_task("publish").outlets}
    assert {PUBLISHED_ASSETS[t].uri for t in ("sales_funnel", "contract_renewals", "service_sla", "care_actions")} <= outlets


def test_dagbag_lists_crm_care_on_its_weekly_schedule() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR / "crm_care.py"))
    assert bag.import_errors == {}
    assert bag.dags["crm_care"].timetable.timetable.expression == "0 5 * * 1"


@pytest.mark.airflow
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_airflow_dags_test_crm_care_publishes_the_week(tmp_path: Path) -> None:
    from services_support import load_services_template

    from warehouse.foundation.settings import load_settings
    from warehouse.ops.airflow_env import ensure_airflow_ready, run_airflow
    from warehouse.serve.publish import read_manifest

    data = tmp_path / "data"
    data.mkdir()
    load_services_template(data)
    shutil.rmtree(data / "published", ignore_errors=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRMWH_DATA_DIR", str(data))
        mp.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
        mp.setenv("CRMWH_SERVICES__BOOTSTRAP_SAMPLES", "50")
        settings = load_settings()
        ensure_airflow_ready(settings)
        result = run_airflow(settings, ["dags", "test", "crm_care", "2025-07-02"], check=False, capture=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    manifest = read_manifest(settings)
    assert manifest is not None
    assert {"sales_funnel", "contract_renewals", "service_sla", "care_actions"} <= set(manifest.row_counts)
    with duckdb.connect(str(settings.published_path), read_only=True) as con:
        weeks = con.execute("select distinct week_start::varchar from care_actions").fetchall()
        described = con.execute("select count(*) from data_dictionary where table_name = 'care_actions'").fetchone()[0]
    assert weeks == [("2025-06-30",)]  # the logical date's week
    assert described >= 10
