"""Reading one file drop into text columns, strictly and within declared limits.

A file drop is read as text only (typing is staging's job), and the reader refuses what it cannot read
faithfully instead of guessing: every refusal is a :class:`RejectedBatchError` with one line of reason.

- Limits (``settings.files``: bytes, cells, columns, line length) are checked *before* anything is
  allocated: a CSV's size, longest line, header width and line count; an XLSX sheet's extent from its
  XML (the ``<dimension>`` it declares and every cell reference), a Parquet file's schema and row count
  from its footer.
- Encodings: UTF-8 (a BOM is dropped), else Windows-1252, else Latin-1. A file that holds valid UTF-8
  sequences *and* bytes that are not UTF-8 is mixed: rejected naming a line of each.
- Headers: a name that repeats, also when only its case differs (``Quantity`` / ``quantity``), is
  ambiguous: rejected. A nameless column that holds no value (a trailing delimiter) is dropped.
- XLSX: every sheet that holds a value is read; extra sheets with the same header are appended (their
  rows numbered after the first sheet's), sheets with another header reject the file, naming them.
- Parquet: list, struct, map and binary columns cannot be sales-line values: rejected, naming them.
- Blank lines (every field empty or white space) are dropped and counted; ``_source_row`` keeps each
  line's position among the data lines as read (1 = first line after the header).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

import polars as pl

from warehouse.foundation.errors import RejectedBatchError
from warehouse.foundation.settings import FilesSettings

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
LEGACY_EXCEL_SUFFIXES = (".xls",)  # recognised, refused with a reason (see read_drop)
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + EXCEL_SUFFIXES + LEGACY_EXCEL_SUFFIXES + PARQUET_SUFFIXES
DELIMITERS = ",;\t|"
SOURCE_ROW = "_source_row"

# a complete UTF-8 multi-byte sequence (what Latin-1 text almost never holds by chance)
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


@dataclass
class DropTable:
    """A file drop as read: text columns named as in the file, plus ``_source_row``."""

    frame: pl.DataFrame
    blank_rows: int = 0
    encoding: str | None = None
    delimiter: str | None = None
    sheets: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def header(self) -> list[str]:
        return [c for c in self.frame.columns if c != SOURCE_ROW]


def _reject(path: Path, reason: str) -> RejectedBatchError:
    return RejectedBatchError(f"{path.name}: {reason}")


def _count(n: int) -> str:
    return f"{n:,}"


# --- CSV -----------------------------------------------------------------------------------------------
def decode_text(data: bytes, name: str = "file") -> tuple[str, str]:
    """(text, encoding): UTF-8 (BOM dropped), else Windows-1252, else Latin-1; mixed encodings rejected."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    utf8 = _UTF8_MULTIBYTE.search(data)
    if utf8 is not None:
        good_line = data.count(b"\n", 0, utf8.start()) + 1
        bad_line = data.count(b"\n", 0, bad_at) + 1
        sample = data[utf8.start():utf8.end()].decode("utf-8")
        raise RejectedBatchError(
            f"{name}: mixed encodings: line {good_line} is UTF-8 ({sample!r}) but line {bad_line} is not "
            f"(byte 0x{data[bad_at]:02x}); save the file in one encoding (UTF-8) and deliver it again")
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def sniff_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample (``,`` ``;`` tab ``|``), by csv.Sniffer, else the header's most common."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _check_line_length(path: Path, data: bytes, limit: int) -> None:
    match = re.search(rb"[^\n]{%d}" % (limit + 1), data)
    if match is not None:
        line = data.count(b"\n", 0, match.start()) + 1
        raise _reject(path, f"line {line} is longer than files.max_line_bytes ({_count(limit)} bytes): "
                            "not a line-oriented file, or a quote that never closes")


def _header_fields(text: str, delimiter: str) -> list[str]:
    reader = csv.reader(io.StringIO(text[:1 << 20]), delimiter=delimiter)
    try:
        return next(reader)
    except (StopIteration, csv.Error):
        return []


def read_csv_drop(path: Path, limits: FilesSettings, delimiter: str | None = None) -> DropTable:
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise _reject(path, f"{_count(size)} bytes, more than files.max_file_bytes ({_count(limits.max_file_bytes)})")
    data = path.read_bytes()
    if not data.strip():
        raise _reject(path, "the file is empty")
    _check_line_length(path, data, limits.max_line_bytes)
    text, encoding = decode_text(data, path.name)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else sniff_delimiter(
            "\n".join(text[:65536].splitlines()[:50]))
    header = _header_fields(text, delimiter)
    check_header(path, header, limits)
    lines = text.count("\n") + 1
    if lines * len(header) > limits.max_cells:
        raise _reject(path, f"about {_count(lines)} lines x {len(header)} columns, more than files.max_cells "
                            f"({_count(limits.max_cells)})")
    try:
        frame = pl.read_csv(io.BytesIO(text.encode("utf-8")), separator=delimiter, infer_schema=False,
                            raise_if_empty=False)
    except Exception as exc:  # noqa: BLE001 - any parser failure means the file cannot be read as CSV
        raise _reject(path, f"unreadable ({type(exc).__name__}: {_first_line(exc)})") from exc
    if len(header) == frame.width and len(set(header)) == len(header):
        # polars keeps a quoted header name's doubled quotes ("a""b" -> a""b); the csv module reads it right
        frame.columns = header
    return _finish(path, frame, DropTable(frame, encoding=encoding, delimiter=delimiter))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_header(path: Path, header: list[str], limits: FilesSettings) -> None:
    """Width within limits; no name that repeats, also not when only its case differs."""
    if len(header) > limits.max_columns:
        raise _reject(path, f"{len(header)} columns, more than files.max_columns ({limits.max_columns})")
    seen: dict[str, str] = {}
    for name in header:
        clean = name.strip().lstrip("\ufeff")
        if not clean:
            continue
        key = clean.casefold()
        if key in seen:
            same = "repeats" if seen[key] == clean else f"and {seen[key]!r} differ only in case"
            raise _reject(path, f"ambiguous header: column {clean!r} {same}; rename one of them")
        seen[key] = clean


# --- XLSX -----------------------------------------------------------------------------------------------
_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_CELL_REF = re.compile(rb"<(?:\w+:)?c\b[^>]*?\br=\"([A-Z]{1,3})([0-9]{1,7})\"")
_ROW_REF = re.compile(rb"<(?:\w+:)?row\b[^>]*?\br=\"([0-9]{1,7})\"")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*?\bref=\"([A-Z]{1,3})([0-9]{1,7})(?::([A-Z]{1,3})([0-9]{1,7}))?\"")


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


@dataclass(frozen=True)
class SheetExtent:
    name: str
    cells: int  # the largest rectangle a reader may allocate for it (declared or used)
    described: str


def _sheet_parts(book: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(sheet name, part name inside the zip) in workbook order."""
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    parts = []
    for sheet in workbook.iter(f"{_NS_MAIN}sheet"):
        target = targets.get(sheet.get(f"{_NS_REL}id"), "")
        part = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
        parts.append((sheet.get("name", "?"), part))
    return parts


def xlsx_extents(path: Path, limits: FilesSettings) -> list[SheetExtent]:
    """Every sheet's extent, from its XML: the declared ``<dimension>`` and the cell references used.

    Readers size their cell grid from these; nothing is decoded beyond the XML text of one sheet at a
    time (whose uncompressed size is checked against ``files.max_file_bytes`` first)."""
    try:
        book = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _reject(path, f"unreadable (not an XLSX workbook: {_first_line(exc)})") from exc
    extents = []
    with book:
        try:
            parts = _sheet_parts(book)
        except (KeyError, ElementTree.ParseError) as exc:
            raise _reject(path, f"unreadable (no workbook part: {_first_line(exc)})") from exc
        for name, part in parts:
            try:
                info = book.getinfo(part)
            except KeyError:
                continue
            if info.file_size > limits.max_file_bytes:
                raise _reject(path, f"sheet {name!r} unpacks to {_count(info.file_size)} bytes, more than "
                                    f"files.max_file_bytes ({_count(limits.max_file_bytes)})")
            xml = book.read(part)
            cells = 0
            described = "empty"
            dim = _DIMENSION.search(xml)
            if dim is not None and dim.group(3):
                c0, r0, c1, r1 = (_column_number(dim.group(1)), int(dim.group(2)),
                                  _column_number(dim.group(3)), int(dim.group(4)))
                cells = (abs(c1 - c0) + 1) * (abs(r1 - r0) + 1)
                described = f"declared range {dim.group(1).decode()}{r0}:{dim.group(3).decode()}{r1}"
            cols = [_column_number(m.group(1)) for m in _CELL_REF.finditer(xml)]
            rows = [int(m.group(2)) for m in _CELL_REF.finditer(xml)] or [int(m.group(1)) for m in _ROW_REF.finditer(xml)]
            if rows:
                # readers allocate from A1 to the last used cell
                used = max(rows) * max(cols or [1])
                if used > cells:
                    cells, described = used, f"cells up to row {max(rows)}, column {max(cols or [1])}"
            extents.append(SheetExtent(name, cells, described))
    return extents


def read_xlsx_drop(path: Path, limits: FilesSettings) -> DropTable:
    if path.stat().st_size == 0:
        raise _reject(path, "the file is empty")
    extents = xlsx_extents(path, limits)
    for extent in extents:
        if extent.cells > limits.max_cells:
            raise _reject(path, f"sheet {extent.name!r} spans {_count(extent.cells)} cells ({extent.described}), "
                                f"more than files.max_cells ({_count(limits.max_cells)}); re-save the sheet with "
                                "only its used range")
    import fastexcel

    try:
        reader = fastexcel.read_excel(str(path))
        sheets = []
        for name in reader.sheet_names:
            frame = _load_sheet(reader, name)
            if frame is not None:
                sheets.append((name, frame))
    except RejectedBatchError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means the workbook cannot be read
        raise _reject(path, f"unreadable ({type(exc).__name__}: {_first_line(exc)})") from exc
    if not sheets:
        raise _reject(path, "the file is empty (no sheet holds a value)")
    first_name, first = sheets[0]
    check_header(path, first.columns, limits)
    others = [(n, f) for n, f in sheets[1:]]
    different = [n for n, f in others if [c.strip().casefold() for c in f.columns]
                 != [c.strip().casefold() for c in first.columns]]
    if different:
        raise _reject(path, f"sheet(s) {', '.join(repr(n) for n in different)} hold data with another header than "
                            f"the first sheet {first_name!r}; deliver one sheet per file (or the same columns on every sheet)")
    frames = [first] + [f.rename(dict(zip(f.columns, first.columns, strict=True))) for _, f in others]
    table = DropTable(pl.concat(frames, how="vertical") if len(frames) > 1 else first,
                      sheets=tuple(n for n, _ in sheets))
    if len(sheets) > 1:
        table.notes.append(f"read {len(sheets)} sheets with the same header: {', '.join(n for n, _ in sheets)}")
    return _finish(path, table.frame, table)


def _load_sheet(reader: object, name: str) -> pl.DataFrame | None:
    """A sheet as text columns (numbers formatted by polars, so 1e-30 stays 1e-30), None when empty."""
    try:
        sheet = reader.load_sheet(name, schema_sample_rows=None)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - fastexcel raises on a sheet without any cell
        if "empty" in str(exc).lower() or "no data" in str(exc).lower():
            return None
        raise
    frame = sheet.to_polars()
    if frame.width == 0 or (frame.height == 0 and all(c.startswith("__UNNAMED__") for c in frame.columns)):
        return None
    return frame.with_columns(pl.all().cast(pl.Utf8))


# --- Parquet -------------------------------------------------------------------------------------------
def _unsupported_type(dtype: object) -> str | None:
    import pyarrow as pa

    checks = ((pa.types.is_list, "a list"), (pa.types.is_large_list, "a list"),
              (pa.types.is_fixed_size_list, "a list"), (pa.types.is_struct, "a struct"),
              (pa.types.is_map, "a map"), (pa.types.is_binary, "binary"), (pa.types.is_large_binary, "binary"),
              (pa.types.is_fixed_size_binary, "binary"), (pa.types.is_union, "a union"))
    for check, label in checks:
        if check(dtype):
            return label
    return None


def read_parquet_drop(path: Path, limits: FilesSettings) -> DropTable:
    if path.stat().st_size == 0:
        raise _reject(path, "the file is empty")
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path)
        schema = meta.schema_arrow
        rows = meta.metadata.num_rows
    except Exception as exc:  # noqa: BLE001 - not a Parquet file, or a broken footer
        raise _reject(path, f"unreadable ({type(exc).__name__}: {_first_line(exc)})") from exc
    bad = [(f.name, _unsupported_type(f.type), str(f.type)) for f in schema]
    bad = [b for b in bad if b[1]]
    if bad:
        listed = ", ".join(f"{n!r} is {label} ({t})" for n, label, t in bad)
        raise _reject(path, f"column(s) {listed}: nested and binary columns cannot be sales-line values")
    check_header(path, list(schema.names), limits)
    if rows * len(schema.names) > limits.max_cells:
        raise _reject(path, f"{_count(rows)} rows x {len(schema.names)} columns, more than files.max_cells "
                            f"({_count(limits.max_cells)})")
    try:
        frame = pl.read_parquet(path).with_columns(pl.all().cast(pl.Utf8))
    except Exception as exc:  # noqa: BLE001
        raise _reject(path, f"unreadable ({type(exc).__name__}: {_first_line(exc)})") from exc
    return _finish(path, frame, DropTable(frame))


# --- common --------------------------------------------------------------------------------------------
def _finish(path: Path, frame: pl.DataFrame, table: DropTable) -> DropTable:
    """Clean header names, drop nameless empty columns, number the lines, drop and count blank ones."""
    frame = frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns})
    frame = frame.with_columns(pl.all().cast(pl.Utf8))
    nameless = [c for c in frame.columns if not c or c.startswith("__UNNAMED__") or re.fullmatch(r"_duplicated_\d+", c)]
    for c in nameless:
        if frame.select(pl.col(c).str.strip_chars().fill_null("").ne("").any()).item():
            raise _reject(path, f"column {frame.columns.index(c) + 1} holds values but has no name in the header")
    frame = frame.drop(nameless)
    if not frame.columns:
        raise _reject(path, "no header row")
    frame = frame.with_row_index(SOURCE_ROW, offset=1)
    data_cols = [c for c in frame.columns if c != SOURCE_ROW]
    blank = pl.all_horizontal([pl.col(c).str.strip_chars().fill_null("").eq("") for c in data_cols])
    blank_rows = int(frame.select(blank.sum()).item())
    if blank_rows:
        frame = frame.filter(~blank)
    if frame.height == 0:
        raise _reject(path, "the file has a header but no rows" + (f" ({blank_rows} blank)" if blank_rows else ""))
    table.frame = frame
    table.blank_rows = blank_rows
    return table


def read_drop(path: Path, limits: FilesSettings, *, delimiter: str | None = None) -> DropTable:
    """Every column of a file drop as text (see the module doc); RejectedBatchError when it cannot be read."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return read_csv_drop(path, limits, delimiter)
    if suffix in EXCEL_SUFFIXES:
        return read_xlsx_drop(path, limits)
    if suffix in PARQUET_SUFFIXES:
        return read_parquet_drop(path, limits)
    if suffix in LEGACY_EXCEL_SUFFIXES:
        raise _reject(path, "a legacy Excel 97-2003 workbook (.xls) is not read, its extent cannot be checked "
                            "before a reader allocates it; save it as .xlsx and deliver it again")
    raise _reject(path, f"unsupported file type {suffix or '(none)'} (use {', '.join(SUPPORTED_SUFFIXES)})")
