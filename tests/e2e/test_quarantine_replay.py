"""`crmwh quarantine list/replay`: a line waiting for its product loads once the product arrives."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from warehouse.cli import main

HEADER = "order_id,line_number,product_code,description,quantity,unit_price,order_ts,customer_id,country\n"


@pytest.fixture
def quick(settings, monkeypatch):
    monkeypatch.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    from warehouse.foundation.settings import get_settings
    get_settings.cache_clear()
    return get_settings()


def _write(path: Path, body: str) -> Path:
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_list_then_replay_loads_lines_whose_product_arrived(quick, tmp_path, capsys):
    pytest.importorskip("warehouse.ops.pipeline")
    from warehouse.ops.pipeline import ingest_file

    first = ingest_file(quick, _write(tmp_path / "a.csv",
                                      "B1,1,P1,Mug,2,3.50,2024-03-01 10:00:00,C1,UK\n"
                                      "B1,2,NEWP,,1,4.00,2024-03-01 10:00:00,C1,UK\n"
                                      "B2,1,P1,Mug,0,3.50,2024-03-02 10:00:00,C1,UK\n"))
    assert (first.rows_read, first.rows_loaded, first.rows_quarantined) == (3, 1, 2)

    assert main(["quarantine", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(r["rules"][0] for r in listed) == ["product_code_resolves", "quantity_not_zero"]
    assert all(r["reason"] and r["raw_record"] for r in listed)

    assert main(["quarantine", "replay", "--json"]) == 0  # nothing has changed: nothing loads
    assert json.loads(capsys.readouterr().out)[0]["loaded"] == 0

    ingest_file(quick, _write(tmp_path / "b.csv", "B3,1,NEWP,New plate,1,4.00,2024-03-05 10:00:00,C2,UK\n"))
    assert main(["quarantine", "replay", "--table", "stg_files__sales_lines", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    assert (result["candidates"], result["loaded"], result["still_quarantined"]) == (2, 1, 1)

    con = duckdb.connect(str(quick.warehouse_path), read_only=True)
    try:
        lines = dict(con.execute("select sales_line_id, product_id from core.fct_sales_line").fetchall())
        assert lines["canonical:B1:2"] == "NEWP"
        assert "canonical:B2:1" not in lines
        read, loaded, quarantined = con.execute(
            "select rows_read, rows_loaded, rows_quarantined from audit.load_batches where batch_id = ?",
            [first.batch_id]).fetchone()
        assert (read, loaded, quarantined) == (3, 2, 1)
        pending = con.execute("select count(*) from quarantine.stg_files__sales_lines where replayed_at is null "
                              "and _batch_id = ?", [first.batch_id]).fetchone()[0]
        assert pending == quarantined
    finally:
        con.close()

    assert main(["quarantine", "list"]) == 0
    out = capsys.readouterr().out
    assert "quantity is zero" in out and "NEWP" not in out


def test_list_unknown_table_is_one_clear_error(quick, capsys):
    quick.ensure_dirs()
    from warehouse.foundation.db import warehouse_writer
    with warehouse_writer(quick):
        pass
    assert main(["quarantine", "list", "--table", "stg_nope"]) == 2
    assert "no quarantine table for stg_nope" in capsys.readouterr().err


def test_replay_never_loads_a_duplicate_of_a_row_already_loaded(quick):
    pytest.importorskip("warehouse.ops.pipeline")
    from warehouse.ops.pipeline import ingest_file
    from warehouse.ops.replay import replay

    corpus = Path(__file__).resolve().parents[1] / "fixtures" / "bad_inputs" / "sales" / "duplicated_lines.csv"
    batch = ingest_file(quick, corpus)
    assert (batch.rows_loaded, batch.rows_quarantined) == (3, 2)
    [result] = replay(quick, "stg_files__sales_lines")
    assert (result.candidates, result.loaded, result.still_quarantined) == (2, 0, 2)
    con = duckdb.connect(str(quick.warehouse_path), read_only=True)
    try:
        assert con.execute("select count(*) from core.fct_sales_line").fetchone()[0] == 3
        rules = con.execute("select rules from quarantine.stg_files__sales_lines order by _source_row").fetchall()
        assert all("line_not_duplicated" in r[0] for r in rules)
    finally:
        con.close()


def test_crm_line_quarantined_with_its_raw_record_then_replayed_once_its_product_exists(
        pipeline_settings) -> None:
    """A CRM order line naming an unknown product: quarantined with the record as read (from the raw
    layer: staged CRM rows keep no copy of it), then loaded by replay once the product arrives."""
    import sqlalchemy as sa
    from ingest_support import build_source, update_rows

    from warehouse.ingest.source_contract import metadata
    from warehouse.ops import pipeline
    from warehouse.ops.replay import replay

    settings = pipeline_settings
    settings.ensure_dirs()
    build_source(settings.source_url)
    update_rows(settings.source_url, "order_lines", "order_line_id = 1",
                {"product_code": "NEWSKU"}, datetime(2024, 1, 3))  # older than the next run's overlap
    first = pipeline.run(settings, pipeline.Interval.parse(None, "2024-06-01"))
    assert first.rows_read == first.rows_loaded + first.rows_quarantined

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        (batch, row, rules, record), = con.execute(
            "select _batch_id, _source_row, rules, raw_record from quarantine.stg_crm__order_lines").fetchall()
        assert rules == ["product_code_resolves"] and row == 1
        columns = [r[0] for r in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'raw' and table_name = 'crm__order_lines' "
            "and column_name not like '\\_%' escape '\\' order by column_index").fetchall()]
        raw_row = con.execute(f"select {', '.join(columns)} from raw.crm__order_lines where _batch_id = ? "
                              "and _source_row = ?", [batch, row]).fetchone()
        assert json.loads(record) == dict(zip(columns, raw_row, strict=True))
        assert json.loads(record)["product_code"] == "NEWSKU"
        assert con.execute("select _raw from staging.stg_crm__order_lines limit 1").fetchone() == (None,)
    finally:
        con.close()

    engine = sa.create_engine(settings.source_url)
    with engine.begin() as conn:
        conn.execute(metadata.tables["products"].insert(), [{
            "product_id": 99, "product_code": "NEWSKU", "name": "New product", "name_en": None, "category": "cat1",
            "unit_price": 9.5, "is_merchandise": True, "created_at": datetime(2024, 7, 1),
            "updated_at": datetime(2024, 7, 1), "is_deleted": False}])
    engine.dispose()
    pipeline.run(settings, pipeline.Interval.parse(None, "2024-09-01"))
    (result,) = replay(settings, "stg_crm__order_lines")
    assert (result.candidates, result.loaded, result.still_quarantined) == (1, 1, 0)

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        assert con.execute("select product_id from core.fct_sales_line where sales_line_id = 'crm:1'").fetchall() == [
            ("NEWSKU",)]
        # the replayed row carries its record in _raw (it has a new row number in a replay batch)
        replayed = con.execute("select _raw from staging.stg_crm__order_lines where _batch_id = ?",
                               [result.replay_batch_id]).fetchone()[0]
        assert json.loads(replayed)["product_code"] == "NEWSKU"
        read, loaded, quarantined = con.execute(
            "select rows_read, rows_loaded, rows_quarantined from audit.load_batches where batch_id = ?",
            [batch]).fetchone()
        assert (loaded, quarantined) == (read, 0)
    finally:
        con.close()
