"""`crmwh quarantine list/replay`: a line waiting for its product loads once the product arrives."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from warehouse.cli import main

HEADER = "order_id,line_number,product_code,description,quantity,unit_price,order_ts,customer_id,country\n"


@pytest.fixture
def quick(settings, monkeypatch):
    monkeypatch.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    from warehouse.settings import get_settings
    get_settings.cache_clear()
    return get_settings()


def _write(path: Path, body: str) -> Path:
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_list_then_replay_loads_lines_whose_product_arrived(quick, tmp_path, capsys):
    pytest.importorskip("warehouse.pipeline")
    from warehouse.files import ingest_file

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
    from warehouse.db import warehouse_writer
    with warehouse_writer(quick):
        pass
    assert main(["quarantine", "list", "--table", "stg_nope"]) == 2
    assert "no quarantine table for stg_nope" in capsys.readouterr().err


def test_replay_never_loads_a_duplicate_of_a_row_already_loaded(quick):
    pytest.importorskip("warehouse.pipeline")
    from warehouse.files import ingest_file
    from warehouse.replay import replay

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
