"""Connections to the working warehouse, migrations from ``sql/ddl`` and the one-writer lock."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from warehouse.errors import PipelineBusyError
from warehouse.settings import SQL_DIR, Settings

SCHEMAS: tuple[str, ...] = ("raw", "staging", "quarantine", "core", "analytics", "marts", "audit")
DDL_DIR = SQL_DIR / "ddl"


def read_sql(relative_path: str) -> str:
    """The text of one statement file under ``sql/`` (e.g. ``core/dim_customer.sql``)."""
    path = SQL_DIR / relative_path
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return path.read_text(encoding="utf-8")


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Create the schemas and apply every ``sql/ddl/*.sql`` file in name order (all idempotent)."""
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    for path in sorted(DDL_DIR.glob("*.sql")):
        con.execute(path.read_text(encoding="utf-8"))


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file; read-only connections never create or change it."""
    path = Path(path)
    if read_only:
        if not path.exists():
            raise FileNotFoundError(f"no DuckDB file at {path}")
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path))


@contextmanager
def writer_lock(settings: Settings, *, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the warehouse's exclusive write lock (an OS lock, released if the process dies)."""
    lock_path = settings.lock_path
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    timeout = settings.lock_timeout_s if timeout_s is None else timeout_s
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PipelineBusyError(
                        f"another pipeline run is writing the warehouse {settings.warehouse_path} "
                        f"(lock {lock_path}); waited {timeout:.0f}s. Try again when it finishes."
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


@contextmanager
def warehouse_writer(settings: Settings, *, timeout_s: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The one read-write connection to the working warehouse, migrated, under the write lock."""
    with writer_lock(settings, timeout_s=timeout_s):
        con = connect(settings.warehouse_path)
        try:
            migrate(con)
            yield con
        finally:
            con.close()


@contextmanager
def warehouse_reader(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the working warehouse (for status and inspection, not for BI)."""
    con = connect(settings.warehouse_path, read_only=True)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block atomically: commit on success, roll back on any error."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")
