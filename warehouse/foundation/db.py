"""Connections to the working warehouse, migrations from ``sql/ddl`` and the one-writer lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import struct
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from warehouse.foundation.errors import CorruptFileError, CrmwhError, PipelineBusyError, StorageError
from warehouse.foundation.settings import SQL_DIR, Settings
from warehouse.foundation.sqltext import quote_ident, quote_literal

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


def connect(path: Path | str, *, read_only: bool = False, role: str = "warehouse",
            config: dict[str, object] | None = None) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file; read-only connections never create or change it.

    A file that cannot be opened raises a one-line :class:`CrmwhError` saying why (corrupt, locked by
    a writer, disk full, no permission) and what to do; ``role`` (``warehouse`` | ``published``) picks
    the advice."""
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"no DuckDB file at {path}")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    check_complete(path, role)
    try:
        return duckdb.connect(str(path), read_only=read_only, config=config or {})
    except duckdb.Error as exc:
        raise duckdb_failure(exc, path, role) from exc


DUCKDB_HEADER_BYTES = 4096  # the main header, then two database headers, then the blocks
DATABASE_HEADER = struct.Struct("<QQqqQQQQ")  # checksum, iteration, meta block, free list, block count,
#                                               block size, vector size, serialization compatibility


def block_layout(path: Path) -> tuple[int, int] | None:
    """(block size, blocks listed by the newest database header) of a DuckDB file, or None when the file
    is not laid out as expected (DuckDB's own open then reports what is wrong)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(3 * DUCKDB_HEADER_BYTES)
    except OSError:
        return None
    if len(head) < 3 * DUCKDB_HEADER_BYTES or head[8:12] != b"DUCK":
        return None
    headers = [DATABASE_HEADER.unpack_from(head, offset) for offset in (DUCKDB_HEADER_BYTES, 2 * DUCKDB_HEADER_BYTES)]
    _, _, _, _, block_count, block_size, _, _ = max(headers, key=lambda h: h[1])
    if not (4096 <= block_size <= 1 << 26 and block_size & (block_size - 1) == 0 and block_count < 1 << 40):
        return None
    return block_size, block_count


def check_complete(path: Path, role: str = "warehouse") -> None:
    """Raise CorruptFileError when the file cannot be a whole DuckDB file: it is always the headers plus
    whole blocks, so a copy cut off mid-block (a full disk, an interrupted transfer) shows. Such a copy may
    still open, and then fail (or worse, be written over) only when a missing block is read. (A shorter
    file than the header lists is not enough: DuckDB drops free blocks at the end of the file.)"""
    if not path.is_file():
        return
    layout = block_layout(path)
    actual = path.stat().st_size
    if layout is None or actual < 3 * DUCKDB_HEADER_BYTES:
        return
    block_size, block_count = layout
    if (actual - 3 * DUCKDB_HEADER_BYTES) % block_size:
        raise CorruptFileError(
            f"{WHAT.get(role, 'the DuckDB file')} {path} is corrupt: truncated to {actual} bytes, not a whole "
            f"number of its {block_size}-byte blocks (its header lists {block_count}); "
            + ADVICE.get(role, ADVICE["warehouse"])["corrupt"].format(path=path))


# Markers of a file DuckDB cannot read (a truncated copy, a damaged block, not a DuckDB/Parquet file).
CORRUPT_MARKERS: tuple[str, ...] = (
    "could not read enough bytes", "not a valid duckdb database file", "corrupt", "checksum",
    "no magic bytes", "too small to be a parquet file", "invalid parquet", "failed to read database header",
)
NO_SPACE_MARKERS: tuple[str, ...] = ("no space left on device", "disk quota exceeded", "file too large")
NO_WRITE_MARKERS: tuple[str, ...] = ("permission denied", "read-only file system", "operation not permitted")
LOCK_MARKERS: tuple[str, ...] = ("could not set lock on file", "conflicting lock")
ADVICE: dict[str, dict[str, str]] = {
    "warehouse": {
        "corrupt": "restore it from a backup, or move it aside (mv {path} {path}.corrupt) and run "
                   "`crmwh pipeline` to rebuild it from the sources (the CRM database is read again in full)",
        "busy": "a pipeline run holds it for writing; read commands cannot open it meanwhile, so try again "
                "when that run finishes (BI tools read the published file, which is never locked)",
    },
    "published": {
        "corrupt": "run `crmwh publish` to publish the marts again from the working warehouse (a new "
                   "version replaces it; BI tools see it when they reconnect)",
        "busy": "another process holds it for writing, which crmwh never does: close that process",
    },
}
WHAT = {"warehouse": "the working warehouse", "published": "the published file"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def duckdb_failure(exc: BaseException, path: Path | str | None, role: str = "warehouse") -> CrmwhError:
    """A one-line, actionable error for a DuckDB (or Parquet) failure on ``path`` (None: not known)."""
    what = WHAT.get(role, "the DuckDB file") + (f" {path}" if path else "")
    if path is None:
        what = "a DuckDB file"
    advice = ADVICE.get(role, ADVICE["warehouse"])
    detail = _first_line(exc)
    low = detail.lower()
    if any(m in low for m in CORRUPT_MARKERS):
        return CorruptFileError(f"{what} is corrupt or truncated ({detail}); "
                                + advice["corrupt"].format(path=path or "FILE"))
    if any(m in low for m in LOCK_MARKERS):
        holder = describe_lock_holder(Path(path).with_suffix(".lock")) if role == "warehouse" and path else ""
        return PipelineBusyError(f"{what} is in use{holder}; {advice['busy']}")
    if any(m in low for m in NO_SPACE_MARKERS):
        return StorageError(f"no space left to write {what} ({detail}); free disk space and run "
                            "the command again (the interrupted transaction was not committed)")
    if any(m in low for m in NO_WRITE_MARKERS):
        return StorageError(f"cannot write {what} ({detail}); run, ingest, pipeline and publish need a "
                            "writable data directory (status and query only read it)")
    return CrmwhError(f"DuckDB failed on {what}: {detail}" if path else f"DuckDB failed: {detail}")


# operating-system failures that mean "the disk refused": full, or not writable
NO_SPACE_ERRNOS = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EFBIG))
NO_WRITE_ERRNOS = frozenset((errno.EACCES, errno.EPERM, errno.EROFS))
STORAGE_ERRNOS = NO_SPACE_ERRNOS | NO_WRITE_ERRNOS


def os_failure(exc: OSError) -> CrmwhError:
    """A one-line, actionable error for an operating-system failure (disk full, read-only, ...)."""
    if exc.errno is None:  # raised by our own code with a message of its own
        return StorageError(str(exc))
    where = exc.filename or "a file"
    reason = exc.strerror or str(exc)
    if exc.errno in NO_SPACE_ERRNOS:
        return StorageError(f"no space left to write {where} ({reason}); free disk space and run the command "
                            "again")
    if exc.errno in NO_WRITE_ERRNOS:
        return StorageError(f"cannot write {where} ({reason}); run, ingest, pipeline and publish need a writable "
                            "data directory (status and query only read it)")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST) and exc.filename:
        return StorageError(f"{where}: {reason} (a path of the data directory is a file where a folder is "
                            "expected; check CRMWH_DATA_DIR)")
    return StorageError(f"{where}: {reason}")


# --- the writer: who holds the lock, who wrote a batch ----------------------------------------------

WRITER_VARIABLE = "crmwh_writer"  # DuckDB session variable: the default of audit.load_batches.writer


@dataclass(frozen=True)
class Writer:
    """The process writing the warehouse: recorded in the lock file and with every batch it starts."""

    pid: int
    host: str
    boot_id: str
    process_start: str  # the kernel's start time of the process (clock ticks after boot); "" if unknown
    started_at: str  # when it took the lock (local time, ISO)
    kind: str = "process"  # process | airflow (a task of a DAG run: the process ends after each task)
    dag_id: str | None = None
    run_id: str | None = None
    command: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Writer | None:
        if not text:
            return None
        try:
            raw = json.loads(text)
            return cls(**{k: raw.get(k) for k in cls.__dataclass_fields__ if k in raw})
        except (ValueError, TypeError):
            return None

    def describe(self) -> str:
        if self.kind == "airflow":
            return f"Airflow run {self.run_id} of {self.dag_id} (task process {self.pid} on {self.host})"
        return f"process {self.pid} on {self.host} ({self.command or 'crmwh'}, since {self.started_at[:19]})"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 (starttime), counted after the command name


def current_writer() -> Writer:
    pid = os.getpid()
    dag_run = os.environ.get("AIRFLOW_CTX_DAG_RUN_ID")
    argv0 = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    command = " ".join(["crmwh", *sys.argv[1:3]]) if argv0 == "crmwh" else f"python {argv0}"
    return Writer(pid=pid, host=socket.gethostname(), boot_id=_boot_id(), process_start=_process_start(pid),
                  started_at=datetime.now().isoformat(timespec="seconds"),
                  kind="airflow" if dag_run else "process", dag_id=os.environ.get("AIRFLOW_CTX_DAG_ID"),
                  run_id=dag_run, command=command[:80])


def writer_is_gone(writer: Writer, me: Writer) -> bool:
    """True when ``writer`` certainly stopped without closing its batches (called under the write lock).

    A process writer is gone when it ran on this host and that process no longer exists (same pid and
    start time, same boot). An Airflow writer's task processes end after every task, so it is gone only
    when another run of the same DAG writes (the DAGs allow one active run at a time). Writers on other
    hosts are never declared gone (their liveness cannot be checked from here)."""
    if writer.kind == "airflow":
        return (me.kind == "airflow" and me.dag_id == writer.dag_id and me.run_id != writer.run_id
                and me.run_id is not None)
    if writer.host != me.host:
        return False
    if writer.boot_id and me.boot_id and writer.boot_id != me.boot_id:
        return True  # the machine rebooted since
    if writer.pid == me.pid and writer.process_start == me.process_start:
        return False
    if writer.process_start:
        return _process_start(writer.pid) != writer.process_start
    try:
        os.kill(writer.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def mark_abandoned(con: duckdb.DuckDBPyConnection, me: Writer) -> list[str]:
    """Mark ``abandoned`` every ``running`` batch whose writer is gone (we hold the write lock)."""
    if "writer" not in column_types(con, "audit.load_batches"):
        return []
    rows = con.execute("select batch_id, writer from audit.load_batches where status = 'running'").fetchall()
    gone: dict[str, Writer] = {}
    for batch_id, text in rows:
        writer = Writer.from_json(text)
        if writer is not None and writer_is_gone(writer, me):
            gone[batch_id] = writer
    for batch_id, writer in gone.items():
        con.execute(
            "update audit.load_batches set status = 'abandoned', finished_at = ?, error = ? "
            "where batch_id = ? and status = 'running'",
            [datetime.now(), f"abandoned: {writer.describe()} stopped before the batch finished "
                             "(killed or crashed); nothing of it was loaded, the next run reads its data again",
             batch_id])
        con.execute("update audit.file_registry set status = 'abandoned' where batch_id = ? and status = 'running'",
                    [batch_id])
    return list(gone)


def describe_lock_holder(lock_path: Path) -> str:
    """`` (held by process 123 on host, crmwh run, since ...)`` from the lock file, or ``""``."""
    try:
        text = lock_path.read_text(encoding="utf-8")
    except OSError:
        return ""
    writer = Writer.from_json(text)
    if writer is None:
        return f" (held by process {text.strip()})" if text.strip().isdigit() else ""
    return f" (held by {writer.describe()})"


@contextmanager
def writer_lock(settings: Settings, *, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the warehouse's exclusive write lock (an OS lock, released if the process dies)."""
    lock_path = settings.lock_path
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    timeout = settings.lock_timeout_s if timeout_s is None else timeout_s
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise os_failure(exc) from exc
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
                        f"(lock {lock_path}{describe_lock_holder(lock_path).replace(' (', ', ', 1).rstrip(')')}); "
                        f"waited {timeout:.0f}s. Try again when it finishes."
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, current_writer().to_json().encode(), 0)
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
            me = current_writer()
            con.execute(f"set variable {WRITER_VARIABLE} = ?", [me.to_json()])
            mark_abandoned(con, me)
            yield con
        except duckdb.Error as exc:
            raise _named(exc, settings.warehouse_path) from exc
        finally:
            con.close()


@contextmanager
def warehouse_reader(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the working warehouse (for status and inspection, not for BI)."""
    if not settings.warehouse_path.exists():
        raise CrmwhError(f"no warehouse at {settings.warehouse_path} (data directory {settings.data_dir}): "
                         "run `crmwh pipeline`, `crmwh run` or `crmwh ingest PATH` first")
    con = connect(settings.warehouse_path, read_only=True)
    try:
        yield con
    except duckdb.Error as exc:
        raise _named(exc, settings.warehouse_path) from exc
    finally:
        con.close()


def _named(exc: duckdb.Error, path: Path) -> BaseException:
    """A DuckDB error while using the warehouse: a damaged file is named as such; others unchanged."""
    if any(m in str(exc).lower() for m in CORRUPT_MARKERS):
        return duckdb_failure(exc, path, "warehouse")
    return exc


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block atomically: commit on success, roll back on any error."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    try:
        con.execute("commit")
    except duckdb.Error:  # e.g. no space for the WAL: DuckDB has ended the transaction; try to say so cleanly
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        raise


def _bound(con: duckdb.DuckDBPyConnection, qualified: str) -> duckdb.DuckDBPyRelation | None:
    """The table or view ``schema.name`` bound as a relation, None when there is none. Binding the name
    (``con.table``) takes a tenth of the time of a ``duckdb_tables()``/``duckdb_columns()`` query, which
    computes every table's size; a name that does not bind raises without aborting an open transaction."""
    try:
        return con.table(qualified)
    except duckdb.CatalogException:
        return None


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str, *, views: bool = False) -> bool:
    """True when ``schema.table`` is a table (or, with ``views``, a view) of the open database."""
    relation = _bound(con, qualified)
    return relation is not None and (views or relation.type == "TABLE_RELATION")


def column_types(con: duckdb.DuckDBPyConnection, qualified: str) -> dict[str, str]:
    """Column name -> type (as ``duckdb_columns()`` spells it), in order, of a table or view; empty when
    it does not exist."""
    relation = _bound(con, qualified)
    if relation is None:
        return {}
    return dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))


def apply_comments(con: duckdb.DuckDBPyConnection, table: str, table_comment: str,
                   column_comments: dict[str, str]) -> None:
    """``comment on`` the table and each of its columns that exists (the published data dictionary is
    built from these comments); comments for columns the table does not have are skipped."""
    con.execute(f"comment on table {table} is {quote_literal(table_comment)}")
    present = column_types(con, table)
    for column, text in column_comments.items():
        if column in present:
            con.execute(f"comment on column {table}.{quote_ident(column)} is {quote_literal(text)}")
