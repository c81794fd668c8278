"""One real `airflow dags test crm_ingest DATE` run in a temporary data directory."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from ingest_support import build_source

from warehouse.foundation.settings import load_settings
from warehouse.ops.airflow_env import ensure_airflow_ready, run_airflow


@pytest.mark.airflow
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_airflow_dags_test_crm_ingest_loads_the_warehouse(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    settings = load_settings()
    settings.ensure_dirs()
    counts = build_source(settings.source_url)
    ensure_airflow_ready(settings)
    result = run_airflow(settings, ["dags", "test", "crm_ingest", "2024-06-01"], check=False, capture=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        batches = con.execute("select entity, status, rows_read, rows_loaded + rows_quarantined, interval_end "
                              "from audit.load_batches").fetchall()
        lines = con.execute("select count(*) from core.fct_sales_line").fetchone()[0]
    finally:
        con.close()
    assert {b[0] for b in batches} == set(counts)
    assert all(status == "succeeded" and read == accounted for _, status, read, accounted, _ in batches)
    # the data interval end is the cut-off (`dags test DATE`: start == end == DATE)
    assert {str(b[4]) for b in batches} == {"2024-06-01 00:00:00"}
    assert lines == counts["order_lines"]
