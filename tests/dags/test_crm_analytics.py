"""The crm_analytics DAG: scheduled on the core Assets, one writer at a time, publishes the mart Assets."""

from __future__ import annotations

import importlib.util

import pytest

from warehouse.airflow_env import WAREHOUSE_POOL
from warehouse.assets import FACT_ASSETS, PUBLISHED_ASSETS
from warehouse.settings import DAGS_DIR


@pytest.fixture(scope="module")
def dag():
    spec = importlib.util.spec_from_file_location("crm_analytics_under_test", DAGS_DIR / "crm_analytics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.crm_analytics()


def _asset_uris(condition) -> set[str]:
    found = set()
    for obj in getattr(condition, "objects", [condition]):
        if hasattr(obj, "objects"):
            found |= _asset_uris(obj)
        else:
            found.add(obj.uri)
    return found


def test_scheduled_on_the_core_fact_assets(dag) -> None:
    assert dag.dag_id == "crm_analytics"
    assert _asset_uris(dag.timetable.asset_condition) == {a.uri for a in FACT_ASSETS.values()}
    assert dag.max_active_runs == 1
    assert "as_of" in dag.params


def test_tasks_run_mining_then_churn_then_publish_then_report(dag) -> None:
    assert set(dag.task_ids) == {"mining", "churn", "publish", "report"}
    order = ["mining", "churn", "publish", "report"]
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}


def test_writers_take_the_warehouse_pool_and_publish_emits_the_mart_assets(dag) -> None:
    for task_id in ("mining", "churn", "publish"):
        task = dag.get_task(task_id)
        assert task.pool == WAREHOUSE_POOL
        assert task.owner == "data-engineering" and task.retries >= 1
    assert {a.uri for a in dag.get_task("publish").outlets} == {a.uri for a in PUBLISHED_ASSETS.values()}
    assert dag.get_task("report").pool != WAREHOUSE_POOL  # reads the published file only
    assert "mining" in dag.doc_md and "publish" in dag.doc_md
