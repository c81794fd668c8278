"""Read-only SQL against the published marts (what `crmwh query` runs).

Two independent guards: the published file is opened ``read_only`` with external access disabled and
the configuration locked, and the SQL must be exactly one read statement (SELECT, WITH ... SELECT,
FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN). Anything else (insert, update, delete, create,
drop, alter, copy, attach, detach, export, install, load, set, pragma, call, ...) is refused with one
clear line before it reaches the database.
"""

from __future__ import annotations

import contextlib
import csv
import io
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb

from warehouse.foundation.db import CORRUPT_MARKERS, connect, duckdb_failure
from warehouse.foundation.errors import CrmwhError, ReadOnlyError
from warehouse.foundation.jsonout import write_rows
from warehouse.foundation.settings import Settings
from warehouse.serve.publish import resolved_published_path

READ_STATEMENT_TYPES: frozenset[str] = frozenset({"SELECT", "EXPLAIN"})
FORMATS: tuple[str, ...] = ("table", "csv", "json")
FETCH_ROWS = 10_000


class QueryError(CrmwhError):
    """The SQL does not parse or fails against the published marts."""


def check_read_only(sql: str) -> None:
    """Raise ReadOnlyError unless ``sql`` is exactly one read statement."""
    parser = duckdb.connect(":memory:")
    try:
        try:
            statements = parser.extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryError(f"the SQL does not parse: {_first_line(exc)}") from None
    finally:
        parser.close()
    if not statements:
        raise QueryError("no SQL statement given")
    if len(statements) > 1:
        raise ReadOnlyError(
            f"one statement at a time: got {len(statements)}; the published marts are read-only")
    kind = statements[0].type.name
    if kind not in READ_STATEMENT_TYPES:
        raise ReadOnlyError(
            f"refused: {kind} statement; the published marts are read-only (only SELECT, WITH, FROM, "
            "VALUES, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN run here)")


def open_read_only(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The current published version, read-only, no file or network access, configuration locked."""
    path = resolved_published_path(settings)
    return connect(path, read_only=True, role="published", config={
        "enable_external_access": False,
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "lock_configuration": True,
    })


class QueryTimeoutError(QueryError):
    """The statement ran longer than its time limit and was interrupted."""


class _Deadline:
    """Interrupts the connection's running statement after ``seconds`` (None or <= 0: never)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, seconds: float | None) -> None:
        self.seconds = seconds
        self.fired = False
        self._con = con
        self._timer = threading.Timer(seconds, self._fire) if seconds and seconds > 0 else None
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(duckdb.Error):  # already closed: nothing left to stop
            self._con.interrupt()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def error(self, exc: duckdb.Error, path: object) -> CrmwhError:
        if self.fired or isinstance(exc, duckdb.InterruptException):
            return QueryTimeoutError(
                f"query stopped after {self.seconds:g}s (the time limit: --timeout SECONDS, or "
                "publish.query_timeout_s; 0 = none)")
        if any(m in str(exc).lower() for m in CORRUPT_MARKERS):
            return duckdb_failure(exc, path, "published")
        return QueryError(_first_line(exc))


def run_query(settings: Settings, sql: str, timeout_s: float | None = None,
              ) -> tuple[list[str], Iterator[list[tuple[Any, ...]]], duckdb.DuckDBPyConnection]:
    """Check and run ``sql``; the caller iterates the row batches, then closes the connection.

    ``timeout_s`` (default ``settings.publish.query_timeout_s``; 0 = none) bounds the statement and the
    fetching of its rows together: past it the statement is interrupted and QueryTimeoutError raised."""
    check_read_only(sql)
    con = open_read_only(settings)
    path = resolved_published_path(settings)
    deadline = _Deadline(con, settings.publish.query_timeout_s if timeout_s is None else timeout_s)
    try:
        cursor = con.execute(sql)
    except duckdb.InvalidInputException as exc:
        deadline.cancel()
        con.close()
        if "read-only" in str(exc) or "read_only" in str(exc):
            raise ReadOnlyError(f"refused: {_first_line(exc)}") from None
        raise deadline.error(exc, path) from None
    except duckdb.Error as exc:
        deadline.cancel()
        con.close()
        raise deadline.error(exc, path) from None
    columns = [d[0] for d in (cursor.description or [])]

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        try:
            while True:
                try:
                    chunk = cursor.fetchmany(FETCH_ROWS)
                except duckdb.Error as exc:
                    raise deadline.error(exc, path) from None
                if not chunk:
                    return
                yield chunk
        finally:
            deadline.cancel()

    return columns, batches(), con


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, truncated: bool) -> str:
    cells = [[_cell(v).replace("\n", " ") for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, min(len(v), 60)) for w, v in zip(widths, row, strict=True)]

    def line(values: Sequence[str]) -> str:
        parts = [(v if len(v) <= w else v[: w - 1] + "…").ljust(w) for v, w in zip(values, widths, strict=True)]
        return " | ".join(parts).rstrip()

    out = [line(columns), "-+-".join("-" * w for w in widths)]
    out.extend(line(row) for row in cells)
    shown = f"{len(rows)} row{'s' if len(rows) != 1 else ''}"
    out.append(f"({shown}{', more not shown: use --format csv or json for all' if truncated else ''})")
    return "\n".join(out) + "\n"


def write_result(columns: Sequence[str], batches: Iterator[list[tuple[Any, ...]]], fmt: str,
                 out: io.TextIOBase | Any, *, table_max_rows: int) -> int:
    """Write rows in ``fmt``; returns the number of rows written."""
    if fmt not in FORMATS:
        raise QueryError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    written = 0
    if fmt == "table":
        rows: list[tuple[Any, ...]] = []
        truncated = False
        for batch in batches:
            room = table_max_rows - len(rows)
            rows.extend(batch[:room])
            if len(batch) > room:
                truncated = True
                break
        out.write(format_table(columns, rows, truncated=truncated))
        return len(rows)
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for batch in batches:
            writer.writerows([[("" if v is None else v) for v in row] for row in batch])
            written += len(batch)
        return written
    return write_rows((dict(zip(columns, row, strict=True)) for batch in batches for row in batch), out)
