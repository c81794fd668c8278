"""A PostgreSQL source whose connection dies in the middle of an extract: the run fails cleanly (one
SourceError), nothing of it reaches core, the watermark does not move, and a retry loads everything.

The shared server is never stopped: the extracting backend is killed with pg_terminate_backend from a
second connection, in the test's own database (pg_schema_url)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import reliability_support as rs
import sqlalchemy as sa
from ingest_support import build_source, update_rows

from warehouse.foundation.errors import CrmwhError
from warehouse.foundation.settings import Settings, load_settings
from warehouse.ingest import extract as extract_mod
from warehouse.ops import pipeline

END_1, END_2 = "2024-06-01", "2024-08-01"


def _terminate_extractors(url: str) -> int:
    """Kill every other backend connected to the test database (the extractor's ADBC connection)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        killed = conn.execute(sa.text(
            "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid()")).scalar_one()
    engine.dispose()
    return int(killed)


def _read(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.postgres
@pytest.mark.parametrize("at_table", [1, 4])  # dies before the 2nd table / in the middle (orders)
def test_connection_killed_mid_extract_fails_cleanly_and_the_retry_loads(
        pg_schema_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, at_table: int) -> None:
    monkeypatch.setenv("CRMWH_SOURCE_URL", pg_schema_url)
    monkeypatch.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    monkeypatch.setenv("CRMWH_INGEST__FETCH_BATCH_ROWS", "8")  # stream in small batches
    settings = load_settings()
    settings.ensure_dirs()
    build_source(pg_schema_url)
    pipeline.run(settings, pipeline.Interval.parse(None, END_1))
    marks_before = _read(settings, "select entity, watermark from audit.watermarks order by 1")
    core_before = rs.warehouse_checksums(settings.warehouse_path, ("core",))
    update_rows(pg_schema_url, "orders", "order_id in (3, 4)", {"channel": "phone"}, datetime(2024, 7, 1))
    update_rows(pg_schema_url, "order_lines", "order_id = 3", {"discount": Decimal("1.00")}, datetime(2024, 7, 1))

    original, calls, killed = extract_mod.read_source_table, [0], []

    def dying(cur, target, table, *args, **kwargs):
        calls[0] += 1
        reader = original(cur, target, table, *args, **kwargs)
        if calls[0] == at_table:
            killed.append(_terminate_extractors(pg_schema_url))  # the stream is open: the backend dies now
        return reader

    monkeypatch.setattr(extract_mod, "read_source_table", dying)
    with pytest.raises(CrmwhError) as failure:
        pipeline.run(settings, pipeline.Interval.parse(None, END_2))
    assert killed and killed[0] >= 1
    message = str(failure.value)
    assert "cannot read" in message and "\n" not in message
    # nothing of the failed run reached core; watermarks did not move
    assert _read(settings, "select entity, watermark from audit.watermarks order by 1") == marks_before
    assert rs.warehouse_checksums(settings.warehouse_path, ("core",)) == core_before
    assert _read(settings, "select count(*) from audit.load_batches where status = 'succeeded' "
                           "and interval_end > '2024-06-02'") == [(0,)]

    monkeypatch.setattr(extract_mod, "read_source_table", original)
    summary = pipeline.run(settings, pipeline.Interval.parse(None, END_2))  # the retry
    assert summary.rows_read == summary.rows_loaded + summary.rows_quarantined
    marks = dict(_read(settings, "select entity, watermark from audit.watermarks"))
    assert marks["orders"] == marks["order_lines"] == datetime(2024, 7, 1)
    assert _read(settings, "select discount from core.fct_sales_line where order_id = 'SO000003' "
                           "and line_number = 1") == [(Decimal("1.00"),)]
    assert {r[0] for r in _read(settings, "select channel_code from core.fct_sales_line s join core.dim_channel c "
                                          "using (channel_key) where order_id in ('SO000003', 'SO000004')")} == {"phone"}
