"""Extraction from the operational CRM database into ``raw.crm__<table>`` (Arrow all the way).

The source is named by a SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``); it is
read through ADBC (``adbc_driver_sqlite`` / ``adbc_driver_postgresql``) as Arrow record batches and
streamed into DuckDB, never as row-by-row Python objects. Every column is read as text: the raw layer
keeps the source's own spelling, staging types it with TRY_CAST (so a value that does not parse stays
visible in ``_raw`` for quarantine).

Incremental by an ``updated_at`` watermark per table (``audit.watermarks``): a batch reads
``lower < updated_at <= cutoff`` where ``lower = min(watermark, interval start) - overlap`` (no
watermark: everything up to the cut-off). The watermark is advanced by ``warehouse.core.load`` in the same
transaction that commits the batch's facts, never here.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import duckdb
import pyarrow as pa

from warehouse.foundation.db import column_types
from warehouse.foundation.errors import RejectedBatchError, SourceError
from warehouse.foundation.settings import Settings
from warehouse.foundation.sqltext import quote_ident, quote_literal
from warehouse.ingest.source_contract import PRIMARY_KEYS, SOURCE_TABLES, metadata

log = logging.getLogger(__name__)

CRM_SOURCE = "crm"
_TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DateTime storage format (sortable text)


@dataclass(frozen=True)
class SourceUri:
    """An ADBC driver and the URI it connects with."""

    driver: str  # sqlite | postgresql
    uri: str


def adbc_uri(url: str) -> SourceUri:
    """Map a SQLAlchemy URL to the ADBC driver and URI that read the same database."""
    if not url:
        raise SourceError("no source URL configured (settings.source_url)")
    scheme, _, rest = url.partition("://")
    dialect = scheme.split("+", 1)[0].lower()
    if dialect == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        path = path.split("?", 1)[0]
        if not path or path == ":memory:":
            raise SourceError(f"SQLite source URL {url!r} names no database file")
        return SourceUri("sqlite", unquote(path))
    if dialect in ("postgresql", "postgres"):
        parts = urlsplit(url)
        return SourceUri("postgresql", urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, "")))
    raise SourceError(f"unsupported source URL scheme {scheme!r} (use sqlite:/// or postgresql+psycopg://)")


class SourceCursor:
    """One ADBC statement on the source: run a query and read its result as Arrow.

    The low-level ADBC API (``adbc_driver_manager.AdbcStatement``), not its DB-API module: that module
    imports pandas, polars and ``pyarrow.dataset`` (half a second of every run) for conversions the
    extraction never uses."""

    def __init__(self, connection: Any) -> None:
        import adbc_driver_manager

        self._stmt = adbc_driver_manager.AdbcStatement(connection)
        self._stream: Any = None

    def set_options(self, **options: str) -> None:
        self._stmt.set_options(**options)

    def execute(self, sql: str) -> SourceCursor:
        self._stmt.set_sql_query(sql)
        self._stream, _ = self._stmt.execute_query()
        return self

    def fetch_record_batch(self) -> pa.RecordBatchReader:
        if self._stream is None:
            raise SourceError("no query was run on this source cursor")
        stream, self._stream = self._stream, None
        return pa.RecordBatchReader._import_from_c(stream.address)

    def fetch_arrow_table(self) -> pa.Table:
        return self.fetch_record_batch().read_all()

    def close(self) -> None:
        self._stmt.close()


class SourceConnection:
    """An ADBC connection to the source in one read transaction (autocommit off: every table of an
    extraction is read from the same snapshot where the database offers one)."""

    def __init__(self, target: SourceUri) -> None:
        import adbc_driver_manager

        if target.driver == "sqlite":
            import adbc_driver_sqlite as driver
        else:
            import adbc_driver_postgresql as driver  # type: ignore[no-redef]
        self._db = driver.connect(target.uri)
        try:
            self._conn = adbc_driver_manager.AdbcConnection(self._db)
        except BaseException:
            self._db.close()
            raise
        try:
            # a driver without transactions reads as it can
            with contextlib.suppress(adbc_driver_manager.NotSupportedError):
                self._conn.set_autocommit(False)
        except BaseException:
            self.close()
            raise

    def cursor(self) -> SourceCursor:
        return SourceCursor(self._conn)

    def close(self) -> None:
        try:
            with contextlib.suppress(Exception):  # a read-only transaction: nothing to keep
                self._conn.rollback()
            self._conn.close()
        finally:
            self._db.close()


@contextmanager
def source_connection(url: str) -> Iterator[tuple[SourceConnection, SourceUri]]:
    """An ADBC connection to the source."""
    target = adbc_uri(url)
    try:
        if target.driver == "sqlite":
            from pathlib import Path

            if not Path(target.uri).is_file():
                raise SourceError(f"the SQLite source {target.uri} does not exist (run `crmwh demo generate`?)")
        con = SourceConnection(target)
    except SourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - any driver failure is a source problem for the user
        raise SourceError(f"cannot connect to the source {_redact(url)}: {str(exc).splitlines()[0]}") from exc
    try:
        yield con, target
    finally:
        con.close()


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def source_columns(cur: SourceCursor, table: str) -> list[str]:
    """The column names the source table has now (no rows read)."""
    cur.execute(f'select * from "{table}" where 1 = 0')
    return [str(n) for n in cur.fetch_arrow_table().schema.names]


def _text_select(driver: str, table: str, columns: list[str], marked: bool, lower: datetime, cutoff: datetime) -> str:
    """SELECT every column as text (SQLite infers Arrow types from values, so force text) of the rows
    with ``lower < updated_at <= cutoff``. The two bounds are written as literals (they are timestamps
    this module formats, never user text): binding them would build Arrow arrays from Python values,
    which makes pyarrow import pandas."""
    columns = [c.replace('"', '""') for c in columns]
    if driver == "postgresql":
        cols = [f'"{c}"::text as "{c}"' for c in columns]
        low, high = (quote_literal(t.isoformat(sep=" ")) for t in (lower, cutoff))
        where = f'where "updated_at" > {low}::timestamp and "updated_at" <= {high}::timestamp'
    else:
        # marked: never NULL ('' = NULL, 'v' + text = a value) so no column is all-NULL in the first batch
        cols = ([f"""coalesce('v' || cast("{c}" as text), '') as "{c}\"""" for c in columns] if marked
                else [f'cast("{c}" as text) as "{c}"' for c in columns])
        low, high = (quote_literal(t.strftime(_TS_FORMAT)) for t in (lower, cutoff))
        where = f'where "updated_at" > {low} and "updated_at" <= {high}'
    pk = PRIMARY_KEYS[table]
    return f'select {", ".join(cols)} from "{table}" {where} order by "{pk}"'


def read_source_table(cur: SourceCursor, target: SourceUri, table: str, lower: datetime | None,
                      cutoff: datetime, batch_rows: int, *, marked: bool = False,
                      columns: list[str] | None = None) -> pa.RecordBatchReader:
    """A stream of the rows of ``table`` with ``lower < updated_at <= cutoff`` (all columns text).

    ``cur`` is an ADBC cursor the caller keeps open until the stream has been consumed. ``marked``
    (SQLite only) prefixes every non-NULL value with one character, for a column that is NULL
    throughout the first batch (the SQLite driver infers column types from the first batch)."""
    columns = columns or [c.name for c in metadata.tables[table].columns]
    try:
        if target.driver == "sqlite":
            cur.set_options(**{"adbc.sqlite.query.batch_rows": str(batch_rows)})
        cur.execute(_text_select(target.driver, table, columns, marked, lower or datetime(1, 1, 1), cutoff))
        return cur.fetch_record_batch()
    except Exception as exc:  # noqa: BLE001
        raise SourceError(f"cannot read {table} from the source: {str(exc).splitlines()[0]}") from exc


def new_batch_id(source: str, entity: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now()).strftime("%Y%m%dT%H%M%S")
    return f"{source}.{entity}.{stamp}.{uuid.uuid4().hex[:8]}"


def watermark(con: duckdb.DuckDBPyConnection, source: str, entity: str) -> datetime | None:
    row = con.execute("select watermark from audit.watermarks where source = ? and entity = ?",
                      [source, entity]).fetchone()
    return row[0] if row else None


def lower_bound(current: datetime | None, interval_start: datetime | None, overlap_minutes: int) -> datetime | None:
    """Extract rows updated after this (None = everything): the watermark, or an earlier interval start
    when backfilling, minus the overlap window for late commits."""
    if current is None:
        return None
    low = min(current, interval_start) if interval_start is not None else current
    return low - timedelta(minutes=overlap_minutes)


def ensure_raw_table(con: duckdb.DuckDBPyConnection, raw_table: str, columns: list[str]) -> None:
    """Create ``raw.<t>`` (all text + lineage) or add columns the source gained since."""
    cols = ", ".join(f"{quote_ident(c)} varchar" for c in columns)
    con.execute(
        f"create table if not exists raw.{raw_table} (_batch_id varchar not null, _source varchar not null, "
        f"_source_row bigint not null, _extracted_at timestamp not null, {cols})"
    )
    existing = column_types(con, f"raw.{raw_table}")
    for c in columns:
        if c not in existing:
            con.execute(f"alter table raw.{raw_table} add column {quote_ident(c)} varchar")


def extract_table(con: duckdb.DuckDBPyConnection, settings: Settings, source_con: SourceConnection, target: SourceUri,
                  table: str, *, interval_start: datetime | None, cutoff: datetime, run_id: str | None) -> str:
    """Read one source table's changed rows into ``raw.crm__<table>`` as a new batch (one transaction)."""
    if table not in SOURCE_TABLES:
        raise SourceError(f"unknown source table {table!r}")
    lower = lower_bound(watermark(con, CRM_SOURCE, table), interval_start, settings.ingest.overlap_minutes)
    log.info("reading %s from the CRM source (updated after %s)", table, lower or "the beginning")
    started = datetime.now()
    batch_id = new_batch_id(CRM_SOURCE, table, started)
    columns = [c.name for c in metadata.tables[table].columns]
    cur = source_con.cursor()
    try:
        present = source_columns(cur, table)
    except Exception as exc:  # noqa: BLE001 - any driver failure is a source problem
        raise SourceError(f"cannot read {table} from the source: {str(exc).splitlines()[0]}") from exc
    finally:
        cur.close()
    missing = [c for c in columns if c not in present]
    if missing:  # a dropped contract column: the batch is refused before anything is written
        raise RejectedBatchError(f"source table {table} lacks column(s) {', '.join(missing)} of the source "
                                 "contract (warehouse/ingest/source_contract.py); nothing of it was extracted")
    # columns the contract does not know: kept in raw (text) and reported, never mapped
    extra = [c for c in present if c not in columns and not c.startswith("_")]
    for marked in (False, True):
        cur = source_con.cursor()
        try:
            _extract_into_raw(con, cur, target, table, columns + extra, batch_id=batch_id, started=started, lower=lower,
                              interval_start=interval_start, cutoff=cutoff, run_id=run_id,
                              batch_rows=settings.ingest.fetch_batch_rows, marked=marked)
            break
        except (duckdb.Error, OSError) as exc:
            if marked or target.driver != "sqlite" or "Type mismatch" not in str(exc):
                raise SourceError(f"cannot read {table} from the source: {str(exc).splitlines()[0]}") from exc
        finally:
            cur.close()
    return batch_id


def _extract_into_raw(con: duckdb.DuckDBPyConnection, cur: SourceCursor, target: SourceUri, table: str, columns: list[str],
                      *, batch_id: str, started: datetime, lower: datetime | None, interval_start: datetime | None,
                      cutoff: datetime, run_id: str | None, batch_rows: int, marked: bool) -> None:
    """Stream the source rows into ``raw.crm__<table>`` and open the batch (one transaction)."""
    raw_table = f"crm__{table}"
    pk = PRIMARY_KEYS[table]
    # created (and committed) before the data transaction: see warehouse.ingest.staging._write_staging
    ensure_raw_table(con, raw_table, columns)
    con.execute("begin transaction")
    try:
        data = read_source_table(cur, target, table, lower, cutoff, batch_rows, marked=marked, columns=columns)
        con.register("_extract_src", data)
        col_list = ", ".join(quote_ident(c) for c in columns)
        def unmark(c: str) -> str:
            return f"""case when {quote_ident(c)} = '' then null else substr({quote_ident(c)}, 2) end""" if marked else quote_ident(c)
        values = ", ".join(unmark(c) for c in columns)
        key = unmark(pk)
        con.execute(
            f"insert into raw.{raw_table} (_batch_id, _source, _source_row, _extracted_at, {col_list}) "
            f"select ?, ?, try_cast({key} as bigint), ?, {values} from _extract_src",
            [batch_id, CRM_SOURCE, started],
        )
        con.unregister("_extract_src")
        rows, max_ts = con.execute(
            f"select count(*), max(try_cast(updated_at as timestamp)) from raw.{raw_table} where _batch_id = ?",
            [batch_id]).fetchall()[0]
        con.execute(
            """insert into audit.load_batches (batch_id, run_id, source, entity, source_kind, interval_start,
               interval_end, started_at, rows_read, status, step, lower_bound, max_source_ts, staging_table)
               values (?, ?, ?, ?, 'database', ?, ?, ?, ?, 'running', 'extracted', ?, ?, ?)""",
            [batch_id, run_id, CRM_SOURCE, table, interval_start, cutoff, started, rows, lower, max_ts,
             f"stg_crm__{table}"],
        )
        contract = {c.name for c in metadata.tables[table].columns}
        extra = [c for c in columns if c not in contract]
        if extra:
            note = (f"new source column(s) {', '.join(extra)}: kept in raw.{raw_table}, not mapped "
                    "(extend the source contract to load them)")
            log.warning("%s.%s: %s", CRM_SOURCE, table, note)
            con.execute("update audit.load_batches set notes = ? where batch_id = ?", [note, batch_id])
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.unregister("_extract_src")
        con.execute("rollback")
        raise


def extract_crm(con: duckdb.DuckDBPyConnection, settings: Settings, *, interval_start: datetime | None,
                cutoff: datetime, run_id: str | None = None,
                tables: tuple[str, ...] = SOURCE_TABLES) -> list[str]:
    """Extract every source table (parents first) as one batch each; returns the batch ids."""
    batch_ids: list[str] = []
    with source_connection(settings.source_url) as (source_con, target):
        for table in tables:
            batch_ids.append(extract_table(con, settings, source_con, target, table,
                                           interval_start=interval_start, cutoff=cutoff, run_id=run_id))
    return batch_ids
