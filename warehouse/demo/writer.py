"""Bulk-load generated columns into any SQLAlchemy database.

Tables are created with SQLAlchemy (``metadata.create_all``); rows are loaded from Arrow in chunks:
through ADBC ``adbc_ingest`` for SQLite and PostgreSQL (PostgreSQL uses binary COPY), and through
SQLAlchemy Core ``executemany`` for any other dialect. Generated columns arrive as numpy arrays in a
few logical encodings, converted here to what each backend stores:

- DateTime: int64 seconds since the Unix epoch (``NULL_TS`` for NULL). SQLite receives the exact text
  SQLAlchemy itself writes (``YYYY-MM-DD HH:MM:SS.ffffff``), so ``updated_at > :watermark`` filters
  compare correctly; PostgreSQL receives ``timestamp``.
- Date: int64 days since the epoch (``NULL_DATE`` for NULL).
- Numeric: int64 cents (exact; ``NULL_INT`` for NULL in a nullable column); SQLite stores REAL,
  PostgreSQL ``numeric(12,2)``.
- Integer / SmallInteger: int64 with ``NULL_INT`` for NULL.
- Boolean: numpy bool.
- String / Text: a ``pyarrow`` string array or anything ``pa.array`` accepts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

NULL_TS = np.iinfo(np.int64).min
NULL_DATE = np.iinfo(np.int64).min
NULL_INT = np.iinfo(np.int64).min
CHUNK_ROWS = 500_000

_TIME_OF_DAY = np.frombuffer(
    "".join(f" {h:02d}:{m:02d}:{s:02d}.000000" for h in range(24) for m in range(60) for s in range(60)).encode(),
    np.uint8,
).reshape(86400, 16)


def _fixed_width_strings(buf: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    """A string array over a (rows, width) uint8 buffer without copying it again."""
    n, width = buf.shape
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    validity = None
    null_count = 0
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        null_count = int(n - valid.sum())
    return pa.Array.from_buffers(pa.string(), n, [validity, pa.py_buffer(offsets),
                                                  pa.py_buffer(np.ascontiguousarray(buf))], null_count)


def _date_table(days: np.ndarray) -> tuple[int, np.ndarray]:
    lo, hi = int(days.min()), int(days.max())
    text = "".join(np.arange(lo, hi + 1).astype("datetime64[D]").astype(str))
    return lo, np.frombuffer(text.encode(), np.uint8).reshape(-1, 10)


def timestamps_as_sqlite_text(seconds: np.ndarray) -> pa.Array:
    """Format epoch seconds exactly as SQLAlchemy's SQLite DateTime type stores them (fast, vectorized)."""
    seconds = np.asarray(seconds, dtype=np.int64)
    valid = seconds != NULL_TS
    if not valid.any():
        return pa.nulls(len(seconds), pa.string())
    safe = np.where(valid, seconds, seconds[valid][0])
    days = safe // 86400
    lo, table = _date_table(days)
    buf = np.empty((len(safe), 26), np.uint8)
    buf[:, :10] = table[days - lo]
    buf[:, 10:] = _TIME_OF_DAY[safe - days * 86400]
    return _fixed_width_strings(buf, valid)


def dates_as_sqlite_text(days: np.ndarray) -> pa.Array:
    days = np.asarray(days, dtype=np.int64)
    valid = days != NULL_DATE
    if not valid.any():
        return pa.nulls(len(days), pa.string())
    safe = np.where(valid, days, days[valid][0])
    lo, table = _date_table(safe)
    return _fixed_width_strings(table[safe - lo], valid)


def cents_as_decimal(cents: np.ndarray, precision: int = 12, scale: int = 2,
                     valid: np.ndarray | None = None) -> pa.Array:
    """Exact decimal128 from int64 cents (two's-complement 128-bit little-endian words); ``valid``
    False marks a NULL."""
    cents = np.asarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    validity, nulls = None, 0
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        nulls = int(len(valid) - valid.sum())
    return pa.Array.from_buffers(pa.decimal128(precision, scale), len(cents),
                                 [validity, pa.py_buffer(words)], nulls)


def _to_arrow(column: sa.Column, values: Any, dialect: str) -> pa.Array:
    kind = column.type
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(kind, sa.DateTime):
        seconds = np.asarray(values, dtype=np.int64)
        if dialect == "sqlite":
            return timestamps_as_sqlite_text(seconds)
        mask = seconds == NULL_TS
        return pa.array(np.where(mask, 0, seconds), type=pa.timestamp("s"), mask=mask).cast(pa.timestamp("us"))
    if isinstance(kind, sa.Date):
        days = np.asarray(values, dtype=np.int64)
        if dialect == "sqlite":
            return dates_as_sqlite_text(days)
        mask = days == NULL_DATE
        return pa.array(np.where(mask, 0, days).astype(np.int32), type=pa.date32(), mask=mask)
    if isinstance(kind, sa.Numeric):
        cents = np.asarray(values, dtype=np.int64)
        if column.nullable and (cents == NULL_INT).any():  # NULL money (e.g. a quote not sent yet)
            mask = cents == NULL_INT
            if dialect == "sqlite":
                return pa.array(np.where(mask, 0, cents) / 100.0, type=pa.float64(), mask=mask)
            return cents_as_decimal(np.where(mask, 0, cents), kind.precision or 12, kind.scale or 2, ~mask)
        if dialect == "sqlite":
            return pa.array(cents / 100.0, type=pa.float64())
        return cents_as_decimal(cents, kind.precision or 12, kind.scale or 2)
    if isinstance(kind, sa.Boolean):
        return pa.array(np.asarray(values, dtype=bool), type=pa.bool_())
    if isinstance(kind, sa.Integer):  # SmallInteger and BigInteger are Integer subclasses
        ints = np.asarray(values, dtype=np.int64)
        mask = ints == NULL_INT
        target = pa.int16() if isinstance(kind, sa.SmallInteger) else (
            pa.int64() if isinstance(kind, sa.BigInteger) else pa.int32())
        return pa.array(np.where(mask, 0, ints), type=pa.int64(), mask=mask if mask.any() else None).cast(target)
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    return pa.array(values, type=pa.string())


def to_arrow_table(table: sa.Table, columns: Mapping[str, Any], dialect: str,
                   start: int = 0, stop: int | None = None) -> pa.Table:
    """Rows ``[start, stop)`` of ``columns`` as an Arrow table typed for ``dialect``."""
    arrays = {}
    for column in table.columns:
        if column.name not in columns:
            raise KeyError(f"generator produced no column {table.name}.{column.name}")
        values = columns[column.name]
        arrays[column.name] = _to_arrow(column, values[start:stop], dialect)
    extra = set(columns) - set(arrays)
    if extra:
        raise KeyError(f"columns {sorted(extra)} are not in table {table.name}")
    return pa.table(arrays)


def row_count(columns: Mapping[str, Any]) -> int:
    first = next(iter(columns.values()))
    return len(first)


class BulkWriter:
    """Loads whole tables of generated columns into one database, in chunks, in one transaction each."""

    def __init__(self, url: str, *, use_adbc: bool = True) -> None:
        self.url = url
        self.sa_url = sa.engine.make_url(url)
        self.dialect = self.sa_url.get_backend_name()
        self.engine = sa.create_engine(url)
        self.use_adbc = use_adbc and self.dialect in ("sqlite", "postgresql")

    # ADBC connections --------------------------------------------------------------------------
    @contextmanager
    def _adbc(self) -> Iterator[Any]:
        if self.dialect == "sqlite":
            import adbc_driver_sqlite.dbapi as adbc

            database = self.sa_url.database or ":memory:"
            conn = adbc.connect(database, autocommit=True)
            with conn.cursor() as cur:
                cur.execute("PRAGMA synchronous=OFF")  # a fresh bulk load: rerun it if the machine dies
        else:
            import adbc_driver_postgresql.dbapi as adbc

            uri = self.sa_url.set(drivername="postgresql").render_as_string(hide_password=False)
            conn = adbc.connect(uri)
        try:
            yield conn
        finally:
            conn.close()

    def append(self, table: sa.Table, columns: Mapping[str, Any], *, chunk_rows: int = CHUNK_ROWS) -> int:
        """Append all rows of ``columns`` to ``table`` (which must exist); returns the row count."""
        total = row_count(columns)
        if total == 0:
            return 0
        if self.use_adbc:
            with self._adbc() as conn:
                with conn.cursor() as cur:
                    for start in range(0, total, chunk_rows):
                        batch = to_arrow_table(table, columns, self.dialect, start, start + chunk_rows)
                        cur.adbc_ingest(table.name, batch, mode="append")
                if self.dialect != "sqlite":  # SQLite runs in autocommit: one transaction per chunk
                    conn.commit()
        else:
            with self.engine.begin() as conn:
                for start in range(0, total, chunk_rows):
                    batch = to_arrow_table(table, columns, "generic", start, start + chunk_rows)
                    conn.execute(table.insert(), batch.to_pylist())
        return total

    def reset_sequences(self, tables: list[sa.Table]) -> None:
        """After loading explicit ids, move PostgreSQL's serial sequences past them."""
        if self.dialect != "postgresql":
            return
        with self.engine.begin() as conn:
            for table in tables:
                pk = next(iter(table.primary_key.columns)).name
                conn.execute(sa.text(
                    f"select setval(pg_get_serial_sequence('{table.name}', '{pk}'), "  # noqa: S608
                    f"coalesce((select max({pk}) from {table.name}), 0) + 1, false)"))

    def database_path(self) -> Path | None:
        if self.dialect == "sqlite" and self.sa_url.database and self.sa_url.database != ":memory:":
            return Path(self.sa_url.database)
        return None

    def dispose(self) -> None:
        self.engine.dispose()
