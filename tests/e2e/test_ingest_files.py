"""File drops: profiles, encodings, delimiters, formats, content registry, rejected files, landing scan."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from warehouse.cli import main
from warehouse.foundation.errors import RejectedBatchError
from warehouse.foundation.settings import Settings
from warehouse.ingest.files import scan_landing
from warehouse.ops import pipeline
from warehouse.ops.pipeline import ingest_file

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "online_retail_sample.csv"
CANONICAL_HEADER = ["order_id", "line_number", "product_code", "description", "quantity", "unit_price",
                    "order_ts", "customer_id", "country"]
CANONICAL_ROWS = [
    ["A-1", "1", "P1 ", "Mug", "2", "3.50", "2024-03-01 10:00:00", "77", "Österreich"],
    ["A-1", "2", "P2", "Plate", "1", "12.00", "2024-03-01 10:00:00", "77", "Österreich"],
    ["A-2", "1", "P1", "Mug", "-1", "3.50", "2024-03-02 11:30:00", "", "France"],
]


def _read(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _write_csv(path: Path, rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8",
               bom: bool = False, header: list[str] = CANONICAL_HEADER) -> Path:
    text = "\n".join(delimiter.join(r) for r in [header, *rows]) + "\n"
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def test_online_retail_sample_loads_with_every_row_accounted_for(pipeline_settings: Settings) -> None:
    result = ingest_file(pipeline_settings, FIXTURE, "online_retail")
    source = pl.read_csv(FIXTURE, infer_schema=False)
    assert result.status == "succeeded"
    assert result.rows_read == source.height == result.rows_loaded + result.rows_quarantined
    assert result.rows_loaded > 0.99 * source.height
    quarantined = _read(pipeline_settings, "select count(*) from quarantine.stg_files__sales_lines "
                                         "where _batch_id = ?", [result.batch_id])[0][0]
    loaded = _read(pipeline_settings, "select count(*) from core.fct_sales_line where _batch_id = ?",
                   [result.batch_id])[0][0]
    assert quarantined == result.rows_quarantined and loaded == result.rows_loaded
    # cancellations (invoice C...) are returns and cancelled; the facts keep every loaded one
    (c_lines, c_returns, c_cancelled), = _read(pipeline_settings, """
        select count(*), count(*) filter (where is_return), count(*) filter (where is_cancelled)
        from core.fct_sales_line where order_id like 'C%'""")
    c_source = source.filter(pl.col("InvoiceNo").str.starts_with("C")).height
    assert c_source > 0 and c_lines == c_returns == c_cancelled
    assert c_lines >= c_source - result.rows_quarantined
    assert _read(pipeline_settings, "select count(*) from core.fct_sales_line "
                                  "where is_cancelled and order_id not like 'C%'")[0][0] == 0
    # guests load against the unknown customer; "12345.0" becomes online_retail:12345
    guests_source = source.filter(pl.col("CustomerID").is_null()).height
    (guests, guest_ids), = _read(pipeline_settings, "select count(*), count(customer_id) from core.fct_sales_line "
                                                  "where customer_key = 0")
    assert guest_ids == 0 and guests >= guests_source - result.rows_quarantined and guests > 0
    ids = _read(pipeline_settings, "select customer_id from core.fct_sales_line where customer_id is not null "
                                 "limit 5")
    assert all(i.startswith("online_retail:") and "." not in i for (i,) in ids)
    # net amount = quantity x price, DECIMAL
    assert _read(pipeline_settings, "select count(*) from core.fct_sales_line "
                                  "where net_amount <> round(quantity * unit_price, 2)")[0][0] == 0


def test_same_content_loads_once_and_changed_content_is_a_new_batch(pipeline_settings: Settings,
                                                                    tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "drop.csv", CANONICAL_ROWS)
    first = ingest_file(pipeline_settings, path)
    assert first.status == "succeeded" and first.profile == "canonical" and first.rows_read == 3
    again = ingest_file(pipeline_settings, path)
    assert again.status == "duplicate" and again.batch_id == first.batch_id
    copy = shutil.copy(path, tmp_path / "renamed.csv")
    assert ingest_file(pipeline_settings, copy).status == "duplicate"
    assert _read(pipeline_settings, "select count(*) from audit.load_batches")[0][0] == 1
    changed = _write_csv(tmp_path / "drop.csv", [*CANONICAL_ROWS, ["A-3", "1", "P2", "Plate", "4", "12.00",
                                                                   "2024-03-03 09:00:00", "78", "France"]])
    second = ingest_file(pipeline_settings, changed)
    assert second.status == "succeeded" and second.batch_id != first.batch_id and second.rows_read == 4
    # lines are keyed by profile, order and line: the changed file replaced, not doubled, its lines
    assert _read(pipeline_settings, "select count(*) from core.fct_sales_line")[0][0] == 4
    # a run scans the landing folder: both files are registered already, nothing new
    summary = pipeline.run(pipeline_settings, pipeline.Interval.parse(None, "2024-04-01"), include_crm=False)
    assert summary.batch_ids == []


@pytest.mark.parametrize(("delimiter", "encoding", "bom"), [(";", "latin-1", False), ("\t", "utf-8", True),
                                                            ("|", "utf-8", False)])
def test_csv_delimiters_and_encodings(pipeline_settings: Settings, tmp_path: Path, delimiter: str,
                                      encoding: str, bom: bool) -> None:
    path = _write_csv(tmp_path / "sales.csv", CANONICAL_ROWS, delimiter=delimiter, encoding=encoding, bom=bom)
    result = ingest_file(pipeline_settings, path)
    assert result.status == "succeeded" and result.rows_loaded == 3, result
    rows = _read(pipeline_settings, "select product_id, customer_id, is_return, net_amount from core.fct_sales_line "
                                  "order by sales_line_id")
    assert [r[0] for r in rows] == ["P1", "P2", "P1"]  # "P1 " trimmed: the same product
    assert rows[0][1] == "canonical:77" and rows[2][1] is None and rows[2][2] is True
    assert _read(pipeline_settings, "select region from core.dim_customer where customer_id = 'canonical:77'") == [
        ("Österreich",)]


def test_xlsx_and_parquet_drops(pipeline_settings: Settings, tmp_path: Path) -> None:
    frame = pl.DataFrame([dict(zip(CANONICAL_HEADER, r, strict=True)) for r in CANONICAL_ROWS])
    from openpyxl import Workbook

    xlsx = tmp_path / "sales.xlsx"
    book = Workbook()
    sheet = book.active
    sheet.append(CANONICAL_HEADER)
    for row in CANONICAL_ROWS:  # numbers as numbers, as a spreadsheet holds them
        sheet.append([float(v) if k in ("quantity", "unit_price") else v
                      for k, v in zip(CANONICAL_HEADER, row, strict=True)])
    book.save(xlsx)
    parquet = tmp_path / "sales.parquet"
    frame.with_columns(pl.col("quantity").cast(pl.Int64), pl.col("order_id") + "-pq").write_parquet(parquet)
    assert ingest_file(pipeline_settings, xlsx).rows_loaded == 3
    assert ingest_file(pipeline_settings, parquet).rows_loaded == 3
    assert _read(pipeline_settings, "select count(*) from core.fct_sales_line")[0][0] == 6


@pytest.mark.parametrize(("name", "content", "message"), [
    ("empty.csv", b"", "empty"),
    ("header.csv", b"order_id,product_code,quantity,unit_price,order_ts\n", "no rows"),
    ("missing.csv", b"order_id,product_code,quantity\nA,1,2\n", "missing required column"),
    ("binary.xlsx", b"\x00\x01not a workbook", "unreadable"),
])
def test_whole_file_defects_are_rejected_batches(pipeline_settings: Settings, tmp_path: Path, name: str,
                                                 content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RejectedBatchError, match=message):
        ingest_file(pipeline_settings, path)
    rows = _read(pipeline_settings, "select status, error, rows_loaded from audit.load_batches")
    assert len(rows) == 1 and rows[0][0] == "rejected" and message in rows[0][1] and rows[0][2] == 0
    assert _read(pipeline_settings, "select count(*) from core.fct_sales_line")[0][0] == 0


def test_landing_scan_uses_subfolder_profiles_and_stays_inside(pipeline_settings: Settings, tmp_path: Path) -> None:
    landing = Path(pipeline_settings.landing_dir)
    (landing / "online_retail").mkdir(parents=True)
    head = FIXTURE.read_text(encoding="utf-8").splitlines()[:51]
    (landing / "online_retail" / "retail.csv").write_text("\n".join(head) + "\n", encoding="utf-8")
    outside = _write_csv(tmp_path / "outside.csv", CANONICAL_ROWS)
    (landing / "link.csv").symlink_to(outside)
    (landing / "notes.md").write_text("not a drop")
    found = scan_landing(pipeline_settings)
    assert [(p.name, prof) for p, prof in found] == [("retail.csv", "online_retail")]
    summary = pipeline.run(pipeline_settings, pipeline.Interval.parse(None, "2024-01-01"), include_crm=False)
    assert summary.rows_read == 50 and summary.rows_loaded + summary.rows_quarantined == 50


def test_cli_ingest_and_status_json(pipeline_settings: Settings, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_csv(tmp_path / "cli.csv", CANONICAL_ROWS)
    assert main(["ingest", str(path), "--profile", "canonical"]) == 0
    assert (Path(pipeline_settings.landing_dir) / "canonical" / "cli.csv").is_file()
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    batches = json.loads(capsys.readouterr().out)  # one JSON document (docs: JSON output)
    assert len(batches) == 1
    b = batches[0]
    assert b["source"] == "file:canonical" and b["status"] == "succeeded"
    assert b["rows_read"] == 3 == b["rows_loaded"] + b["rows_quarantined"]
    bad = tmp_path / "bad.csv"
    bad.write_text("")
    assert main(["ingest", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crmwh: error:") and "empty" in err and "Traceback" not in err
    assert main(["status"]) == 0
    assert "rejected" in capsys.readouterr().out
