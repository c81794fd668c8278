"""Schema drift of the CRM source: a new column is kept in raw and reported; a dropped contract column
rejects the batch with a clear error (watermark and core untouched); a changed type is caught by
validation (the row waits in quarantine, the rest loads)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from ingest_support import load_template, table_checksums

from warehouse.foundation.errors import RejectedBatchError
from warehouse.foundation.settings import Settings, load_settings
from warehouse.ops import pipeline

END_1, END_2 = "2024-06-01", "2024-08-01"


@pytest.fixture(scope="module")
def loaded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the test source and its first load (built once for the module)."""
    directory = tmp_path_factory.mktemp("drift") / "data"
    load_template(directory, END_1)
    return directory


@pytest.fixture
def loaded(data_dir: Path, monkeypatch: pytest.MonkeyPatch, loaded_template: Path) -> Settings:
    monkeypatch.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    settings = load_settings()
    settings.ensure_dirs()
    for part in ("source", "warehouse"):
        shutil.copytree(loaded_template / part, Path(settings.data_dir) / part, dirs_exist_ok=True)
    return settings


def _source(settings: Settings, *statements: str) -> None:
    engine = sa.create_engine(settings.source_url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


def _read(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _crmwh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "warehouse.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_a_new_source_column_is_kept_in_raw_and_reported(loaded: Settings) -> None:
    _source(loaded, "alter table customers add column loyalty_tier varchar(20)",
            "update customers set loyalty_tier = 'gold', updated_at = '2024-07-01 00:00:00.000000' "
            "where customer_id = 3")
    summary = pipeline.run(loaded, pipeline.Interval.parse(None, END_2))
    assert summary.rows_read == summary.rows_loaded + summary.rows_quarantined
    assert _read(loaded, "select loyalty_tier from raw.crm__customers where customer_id = '3' "
                         "and loyalty_tier is not null") == [("gold",)]
    # the staged row points at its whole source record in raw, the new column included
    assert _read(loaded, "select r.loyalty_tier from staging.stg_crm__customers s join raw.crm__customers r "
                         "using (_batch_id, _source_row) where s.customer_id = 3") == [("gold",)]
    (status, notes), = _read(loaded, "select status, notes from audit.load_batches where entity = 'customers' "
                                     "and run_id = '" + summary.run_id + "'")
    assert status == "succeeded" and "loyalty_tier" in notes and "kept in raw" in notes
    shown = _crmwh("status")
    assert shown.returncode == 0 and "note: new source column(s) loyalty_tier" in shown.stdout


def test_a_dropped_contract_column_rejects_the_batch_with_a_clear_error(loaded: Settings) -> None:
    before = _read(loaded, "select entity, watermark from audit.watermarks order by 1")
    con = duckdb.connect(str(loaded.warehouse_path), read_only=True)
    core_before = table_checksums(con)
    con.close()
    _source(loaded, "alter table customers drop column segment",
            "update customers set name = 'Changed', updated_at = '2024-07-01 00:00:00.000000' where customer_id = 3")
    with pytest.raises(RejectedBatchError, match=r"source table customers lacks column\(s\) segment"):
        pipeline.run(loaded, pipeline.Interval.parse(None, END_2))
    assert _read(loaded, "select entity, watermark from audit.watermarks order by 1") == before
    con = duckdb.connect(str(loaded.warehouse_path), read_only=True)
    assert table_checksums(con) == core_before
    con.close()
    # the command line says it in one line, exit code 2, no traceback
    result = _crmwh("run", "--end", END_2)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "crmwh: error: source table customers lacks column(s) segment of the source contract "
        "(warehouse/ingest/source_contract.py); nothing of it was extracted"]


def test_a_changed_type_is_caught_by_validation(loaded: Settings) -> None:
    # the CRM starts writing text into a numeric column (SQLite keeps whatever it is given)
    _source(loaded, "update order_lines set quantity = 'two', updated_at = '2024-07-01 00:00:00.000000' "
                    "where order_line_id = 4",
            "update order_lines set discount = 0.5, updated_at = '2024-07-01 00:00:00.000000' "
            "where order_line_id = 5")
    summary = pipeline.run(loaded, pipeline.Interval.parse(None, END_2))
    assert summary.rows_read == summary.rows_loaded + summary.rows_quarantined
    rows = _read(loaded, "select _source_row, rules, reason from quarantine.stg_crm__order_lines "
                         "where _source_row = 4")
    assert len(rows) == 1 and any("quantity" in r for r in rows[0][1]), rows
    assert "two" in rows[0][2] or "quantity" in rows[0][2]
    # the valid change of the same batch is loaded; the bad line keeps its last valid version in core
    assert _read(loaded, "select discount from core.fct_sales_line where sales_line_id = 'crm:5'") == [
        (pytest.approx(0.5),)]
    assert _read(loaded, "select quantity from core.fct_sales_line where sales_line_id = 'crm:4'")[0][0] is not None
    assert datetime(2024, 7, 1) == _read(
        loaded, "select watermark from audit.watermarks where entity = 'order_lines'")[0][0]
