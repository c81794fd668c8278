"""The crm_analytics DAG: scheduled on the core Assets, one writer at a time, publishes the mart Assets."""

from __future__ import annotations

import importlib.util

import pytest

from warehouse.foundation.settings import DAGS_DIR
from warehouse.ops.airflow_env import WAREHOUSE_POOL
from warehouse.ops.assets import FACT_ASSETS, PUBLISHED_ASSETS


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


@pytest.mark.slow
def test_task_callables_run_in_order_on_a_small_warehouse(dag, settings) -> None:
    """The DAG's own task functions (no scheduler): mining -> churn -> publish -> report."""
    import datetime as dt

    from churn_support import synthesize_core

    from warehouse.foundation.db import warehouse_writer
    from warehouse.serve.publish import read_manifest

    with warehouse_writer(settings) as con:
        synthesize_core(con, n_customers=200, seed=3)
        (last_sale,) = con.execute("select max(order_ts)::date from core.fct_sales_line").fetchone()
    as_of = dag.get_task("mining").python_callable(params={"as_of": None})
    assert as_of == (last_sale + dt.timedelta(days=1)).isoformat()  # default: the day after the last sale
    assert dag.get_task("churn").python_callable(as_of) == as_of
    published = dag.get_task("publish").python_callable(as_of, run_id="manual__test",
                                                        data_interval_start=None, data_interval_end=None)
    assert read_manifest(settings).version == published["version"]
    assert published["row_counts"]["customer_retention"] > 0
    path = dag.get_task("report").python_callable(published)
    assert path == str(settings.reports_dir / "report.html")
