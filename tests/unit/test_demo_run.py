"""``crmwh demo run``: the make-demo orchestration (DAG discovery, Airflow runs, the closing summary)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import duckdb
import pytest

from warehouse.demo.config import DemoError
from warehouse.demo.orchestrate import DemoRunSummary, dag_defined, describe, duckdb_table_counts, run_demo
from warehouse.foundation.settings import Settings, load_settings

TINY_INGEST = '''
"""Tiny stand-in for crm_ingest: writes one warehouse table and the interval it was given."""
from datetime import datetime

from airflow.sdk import dag, task


@dag(dag_id="crm_ingest", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["test"],
     default_args={"owner": "test", "retries": 0})
def crm_ingest():
    @task
    def load(data_interval_end=None):
        import json

        import duckdb

        from warehouse.foundation.settings import load_settings

        settings = load_settings()
        settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(settings.warehouse_path))
        con.execute("create schema if not exists core")
        con.execute("create or replace table core.dim_demo as select range as id from range(7)")
        con.close()
        (settings.data_dir / "interval.json").write_text(json.dumps({"end": str(data_interval_end)}))

    load()


crm_ingest()
'''

FAILING_ANALYTICS = '''
"""Tiny stand-in for crm_analytics that fails."""
from datetime import datetime

from airflow.sdk import dag, task


@dag(dag_id="crm_analytics", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["test"],
     default_args={"owner": "test", "retries": 0})
def crm_analytics():
    @task
    def boom():
        raise RuntimeError("planted failure")

    boom()


crm_analytics()
'''


def _settings_with_dags(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Settings:
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.setenv("CRMWH_DEMO__SCALE", "small")
    return load_settings()


def test_dag_defined_reads_dag_ids_from_files(tmp_path: Path) -> None:
    (tmp_path / "pipeline.py").write_text('@dag(\n    dag_id="crm_ingest",\n)\n', encoding="utf-8")
    (tmp_path / "crm_analytics.py").write_text("# analytics\n", encoding="utf-8")
    assert dag_defined(tmp_path, "crm_ingest")
    assert dag_defined(tmp_path, "crm_analytics")
    assert not dag_defined(tmp_path, "crm_other")
    assert not dag_defined(tmp_path / "missing", "crm_ingest")


def test_missing_ingest_dag_is_named_and_the_source_is_still_generated(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "dags"
    empty.mkdir()
    settings = _settings_with_dags(monkeypatch, empty)
    said: list[str] = []
    with pytest.raises(DemoError, match="invalid date"):
        run_demo(settings, date="2025-13-01", say=said.append)
    assert not settings.ground_truth_path.exists() and not said
    with pytest.raises(DemoError, match=r"DAG crm_ingest is missing from .*dags"):
        run_demo(settings, seed=3, say=said.append)
    assert Path(settings.source_url.removeprefix("sqlite:///")).is_file()
    assert settings.ground_truth_path.is_file()
    assert any("generating the retail source" in line for line in said)
    # a second run keeps the existing source
    said.clear()
    with pytest.raises(DemoError):
        run_demo(settings, say=said.append)
    assert any("using the existing source" in line for line in said)


def test_summary_lists_every_schema_of_the_warehouse_and_the_published_file(settings: Settings) -> None:
    settings.ensure_dirs()
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("create schema core; create schema marts")
    con.execute("create table core.fct_sales_line as select range as id from range(12)")
    con.execute("create table marts.customer_retention as select range as id from range(3)")
    con.close()
    pub = duckdb.connect(str(settings.published_path))
    pub.execute("create table cross_sell_rules as select range as id from range(5)")
    pub.close()
    assert duckdb_table_counts(settings.warehouse_path) == {
        "core": {"fct_sales_line": 12}, "marts": {"customer_retention": 3}}
    lines = describe(settings, DemoRunSummary(source_url="sqlite:///x", generated=True,
                                              run_date="2025-12-31", dags_run=["crm_ingest"]))
    text = "\n".join(lines)
    assert "core.fct_sales_line" in text and "12" in text
    assert "marts.customer_retention" in text
    assert str(settings.published_path) in text and "main.cross_sell_rules" in text
    assert "index.html (not created yet)" in text and "report.html (not created yet)" in text
    # the warehouse was opened read-only: a writer can still open it afterwards
    duckdb.connect(str(settings.warehouse_path)).close()


@pytest.mark.airflow
@pytest.mark.slow
def test_demo_run_drives_real_airflow_and_fails_clearly(
        data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "tiny_ingest.py").write_text(textwrap.dedent(TINY_INGEST), encoding="utf-8")
    (dags / "tiny_analytics.py").write_text(textwrap.dedent(FAILING_ANALYTICS), encoding="utf-8")
    settings = _settings_with_dags(monkeypatch, dags)
    said: list[str] = []
    with pytest.raises(DemoError, match=r"DAG crm_analytics failed for 2025-12-31T23:59:59 \(airflow exit code"):
        run_demo(settings, seed=5, say=said.append)
    # crm_ingest ran first, through Airflow, with the business clock as its cut-off
    assert any(line.startswith("demo: airflow dags test crm_ingest 2025-12-31T23:59:59 (output: ")
               for line in said)
    assert any(line.startswith("demo: crm_ingest succeeded") for line in said)
    # the failing DAG's output is kept and its tail shown
    logs = sorted((settings.airflow_home / "logs" / "demo").glob("crm_analytics_*.log"))
    assert logs and "planted failure" in logs[0].read_text(encoding="utf-8")
    assert any(line.startswith("  | ") for line in said)
    assert duckdb_table_counts(settings.warehouse_path) == {"core": {"dim_demo": 7}}
    interval = json.loads((settings.data_dir / "interval.json").read_text(encoding="utf-8"))
    assert interval["end"].startswith("2025-12-31 23:59:59")
