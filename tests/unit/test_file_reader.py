"""The file-drop reader and its format decisions, on tiny files (no warehouse): limits checked before
anything is read into columns, encodings, headers, blank lines, date order once per file, strict numbers."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import polars as pl
import pytest

from warehouse.foundation.errors import RejectedBatchError
from warehouse.foundation.settings import FilesSettings
from warehouse.ingest.file_formats import decide_date_order, number_pattern, swapped_formats
from warehouse.ingest.file_reader import decode_text, read_drop, xlsx_extents
from warehouse.ingest.profiles import SourceProfile, format_date_order

HEADER = "order_id,product_code,quantity,unit_price,order_ts\n"


def _csv(tmp_path: Path, text: str | bytes, name: str = "drop.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize(("limits", "text", "message"), [
    (FilesSettings(max_line_bytes=50), HEADER + "A1,P1,1,2.00,2024-03-01 10:00:00" + "x" * 40 + "\n",
     "line 2 is longer than files.max_line_bytes (50 bytes)"),
    (FilesSettings(max_columns=4), HEADER + "A1,P1,1,2.00,2024-03-01\n", "5 columns, more than files.max_columns (4)"),
    (FilesSettings(max_cells=9), HEADER + "A1,P1,1,2,x\nA2,P1,1,2,x\n", "more than files.max_cells (9)"),
    (FilesSettings(max_file_bytes=10), HEADER, "more than files.max_file_bytes (10)"),
])
def test_limits_are_checked_before_the_file_is_parsed(tmp_path: Path, limits: FilesSettings, text: str,
                                                      message: str) -> None:
    with pytest.raises(RejectedBatchError, match=re.escape(message)):
        read_drop(_csv(tmp_path, text), limits)


def test_encodings_utf8_windows1252_latin1_and_mixed() -> None:
    assert decode_text("Crème".encode()) == ("Crème", "utf-8")
    assert decode_text(b"\xef\xbb\xbfa,b") == ("a,b", "utf-8")
    assert decode_text("Preis 5€".encode("cp1252")) == ("Preis 5€", "cp1252")
    assert decode_text(b"caf\xe9\x81") == ("caf\xe9\x81", "latin-1")  # 0x81 is undefined in Windows-1252
    with pytest.raises(RejectedBatchError, match=r"mixed encodings: line 1 is UTF-8 \('é'\) but line 2 is not \(byte 0xe9\)"):
        decode_text("café\n".encode() + "café".encode("latin-1"))


def test_headers_blank_lines_and_nameless_columns(tmp_path: Path) -> None:
    table = read_drop(_csv(tmp_path, HEADER.replace("\n", ",\n") + "A1,P1,1,2,x,\n,,,,,\n\nA2,P1,1,2,x,\n  ,,,,,\n"),
                      FilesSettings())
    assert table.header == ["order_id", "product_code", "quantity", "unit_price", "order_ts"]
    assert table.blank_rows == 3 and table.frame["_source_row"].to_list() == [1, 4]  # positions kept
    with pytest.raises(RejectedBatchError, match="column 6 holds values but has no name"):
        read_drop(_csv(tmp_path, HEADER.replace("\n", ",\n") + "A1,P1,1,2,x,oops\n"), FilesSettings())
    with pytest.raises(RejectedBatchError, match="'order_id' repeats"):
        read_drop(_csv(tmp_path, "order_id,ORDER_ID \n1,2\n".replace("ORDER_ID ", "order_id")), FilesSettings())
    with pytest.raises(RejectedBatchError, match="has a header but no rows \\(2 blank\\)"):
        read_drop(_csv(tmp_path, HEADER + ",,,,\n \n"), FilesSettings())


def _xlsx(tmp_path: Path, sheet_xml: str) -> Path:
    """A minimal workbook with one sheet whose XML is given (no reader involved in making it)."""
    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/workbook.xml", '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                   'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
                   '<sheet name="S1" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/'
                   '2006/relationships"><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return path


def test_xlsx_extent_from_cell_references_when_no_dimension_is_declared(tmp_path: Path) -> None:
    book = _xlsx(tmp_path, '<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row>'
                           '<row r="70000"><c s="1" r="C70000"><v>1</v></c></row></sheetData></worksheet>')
    (extent,) = xlsx_extents(book, FilesSettings())
    assert extent.cells == 3 * 70000 and "row 70000, column 3" in extent.described
    with pytest.raises(RejectedBatchError, match="spans 210,000 cells"):
        read_drop(book, FilesSettings(max_cells=100_000))


def test_date_order_is_decided_once_per_file() -> None:
    auto = SourceProfile("p", {}, timestamp_formats=("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y"), date_order="auto")
    values = pl.Series(["13/01/2024", "14/02/2024", "01/02/2024", "2024-03-01", None])
    decision = decide_date_order(values, auto)
    assert (decision.order, decision.day_first, decision.month_first) == ("dmy", 2, 0)
    majority = decide_date_order(pl.Series(["13/01/2024", "14/01/2024", "01/13/2024"]), auto)
    assert majority.order == "dmy" and majority.contradicting == 1 and "quarantined" in majority.note
    ambiguous = decide_date_order(pl.Series(["01/02/2024", "03/04/2024"]), auto)
    assert ambiguous.order == "dmy" and "first numeric format decides" in ambiguous.note
    declared = decide_date_order(values, SourceProfile("p", {}, timestamp_formats=("%m/%d/%Y",), date_order="mdy"))
    assert declared.order == "mdy" and declared.contradicting == 2
    assert decide_date_order(pl.Series(["2024-03-01"]), auto).note is None
    assert [format_date_order(f) for f in ("%d.%m.%Y", "%m/%d/%Y %H:%M", "%Y-%m-%d", "%d %b %Y")] == [
        "dmy", "mdy", None, None]
    assert swapped_formats(("%d/%m/%Y %H:%M", "%Y-%m-%d")) == ("%m/%d/%Y %H:%M",)


@pytest.mark.parametrize(("decimal", "thousands", "integer", "good", "bad"), [
    (".", "", True, ["12", "-3", "+4", "2.0", "7.000"], ["1.5", "0x10", "1_000", "-1e2", "1 000", "", "1,000"]),
    (",", ".", True, ["1.000", "12", "3,0"], ["1.00", "1,5", "12.5"]),
    (".", "", False, ["12.50", "-0.5", ".5", "1e-30", "3"], ["12,50", "0x1p3", "1_0.5", "nan", "inf"]),
    (",", ".", False, ["12,50", "1.234,56", "-3"], ["12.50", "1.23,4", "1,2,3"]),
])
def test_number_notation_is_strict(decimal: str, thousands: str, integer: bool, good: list[str],
                                   bad: list[str]) -> None:
    pattern = re.compile(number_pattern(decimal, thousands, integer=integer))
    assert [v for v in good if not pattern.fullmatch(v)] == []
    assert [v for v in bad if pattern.fullmatch(v)] == []
