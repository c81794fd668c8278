"""Typed task functions the ``crm_ingest`` DAG and ``crmwh run`` both call.

Each opens its own connection through :func:`warehouse.foundation.db.warehouse_writer` (the one-writer lock),
commits atomically and is idempotent for its data interval:

``extract_source`` -> ``extract_files`` -> ``stage`` -> ``validate`` -> ``load_dimensions`` ->
``load_facts``. Batches move through ``audit.load_batches`` (status ``running`` with ``step``
extracted/staged/validated/dims_loaded, then ``succeeded``; ``failed`` with the error; ``rejected`` for
whole-file defects). A failed step marks its batches failed; nothing of a failed load is committed.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from warehouse.core import load as load_mod
from warehouse.core.core_writes import recording_writes
from warehouse.foundation.db import table_exists, transaction, warehouse_writer
from warehouse.foundation.errors import CriticalValidationError, CrmwhError, RejectedBatchError
from warehouse.foundation.settings import EXPECTATIONS_DIR, Settings
from warehouse.ingest import extract as extract_mod
from warehouse.ingest import files as files_mod
from warehouse.ingest import staging as staging_mod
from warehouse.ingest.quarantine import quarantined_count

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Interval:
    """A data interval; ``end`` is the extraction cut-off (``updated_at <= end``)."""

    start: datetime | None
    end: datetime

    @classmethod
    def parse(cls, start: str | date | datetime | None, end: str | date | datetime | None) -> Interval:
        return cls(_as_datetime(start, end_of_day=False) if start else None,
                   _as_datetime(end, end_of_day=True) if end else datetime.now().replace(microsecond=0))


def _as_datetime(value: str | date | datetime, *, end_of_day: bool) -> datetime:
    if isinstance(value, datetime):  # source timestamps are naive UTC
        return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, date):
        return datetime.combine(value, time.max.replace(microsecond=0) if end_of_day else time.min)
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CrmwhError(f"not a date or timestamp: {value!r} (use YYYY-MM-DD)") from exc
    if len(text) <= 10:
        return _as_datetime(parsed.date(), end_of_day=end_of_day)
    if parsed.tzinfo is not None:

        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


@dataclass
class RunSummary:
    run_id: str
    batch_ids: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    warnings: int = 0
    # file drops: (file, reason) of each rejected or failed one, paths skipped, older re-deliveries
    file_problems: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[files_mod.Skipped] = field(default_factory=list)
    file_notes: list[str] = field(default_factory=list)


def _mark_failed(con: duckdb.DuckDBPyConnection, batch_ids: Iterable[str], error: BaseException) -> None:
    ids = list(batch_ids)
    if not ids:
        return
    message = f"{type(error).__name__}: {error}"[:2000]
    con.execute(
        "update audit.load_batches set status = 'failed', error = ?, finished_at = ? "
        "where batch_id in (select unnest(?::varchar[])) and status = 'running'",
        [message, datetime.now(), ids])
    con.execute("update audit.file_registry set status = 'failed' where batch_id in "
                "(select unnest(?::varchar[])) and status = 'running'", [ids])


@contextlib.contextmanager
def _writer(settings: Settings, con: duckdb.DuckDBPyConnection | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The caller's open writer connection (one per in-process run), else a new one under the lock."""
    if con is not None:
        yield con
        return
    with warehouse_writer(settings) as opened:
        limit_memory(opened, settings)
        yield opened


def limit_memory(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Apply ``settings.ingest.duckdb_memory_limit`` to a loading connection."""
    con.execute(f"set memory_limit = '{settings.ingest.duckdb_memory_limit.replace(chr(39), '')}'")


def _guarded(settings: Settings, batch_ids: list[str], step: Callable[[duckdb.DuckDBPyConnection], T],
             con: duckdb.DuckDBPyConnection | None = None) -> T:
    """Run a step under the writer lock; on failure mark the batches failed and re-raise."""
    with _writer(settings, con) as con:
        try:
            return step(con)
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):
                con.execute("rollback")
            if isinstance(exc, Exception):
                _mark_failed(con, batch_ids, exc)
            raise


def _running(con: duckdb.DuckDBPyConnection, batch_ids: list[str]) -> list[str]:
    if not batch_ids:
        return []
    rows = con.execute("select batch_id from audit.load_batches where batch_id in (select unnest(?::varchar[])) "
                       "and status = 'running'", [batch_ids]).fetchall()
    keep = {r[0] for r in rows}
    return [b for b in batch_ids if b in keep]


# --- task functions --------------------------------------------------------------------------------

def extract_source(settings: Settings, source: str, interval: Interval, run_id: str | None = None, *,
                   con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
    """Extract every table of a database source changed up to ``interval.end``; returns batch ids."""
    if source != extract_mod.CRM_SOURCE:
        raise CrmwhError(f"unknown database source {source!r} (known: {extract_mod.CRM_SOURCE})")
    with _writer(settings, con) as writer:
        return extract_mod.extract_crm(writer, settings, interval_start=interval.start, cutoff=interval.end,
                                       run_id=run_id)


def extract_files(settings: Settings, run_id: str | None = None, *,
                  con: duckdb.DuckDBPyConnection | None = None,
                  summary: RunSummary | None = None) -> list[str]:
    """Register and extract every new file in the landing folder. A file that cannot be read is
    rejected (recorded with its hash, moved to the rejected folder) and the others go on; skipped
    paths are recorded in ``audit.skipped_files``. ``summary`` (if given) collects what happened."""
    batch_ids: list[str] = []
    with _writer(settings, con) as writer:
        scan = files_mod.scan_landing_report(settings)
        files_mod.record_skipped(writer, scan.skipped, run_id)
        for item in scan.skipped:
            log.info("skipped %s: %s", item.path, item.reason)
        if summary is not None:
            summary.skipped.extend(scan.skipped)
        for path, profile in scan.files:
            try:
                result = files_mod.extract_file(writer, settings, path, profile, run_id, explicit=False)
            except RejectedBatchError as exc:
                if summary is not None:
                    summary.file_problems.append((path.name, str(exc)))
                continue
            except files_mod.ProfileError as exc:  # the folder's profile is broken: the file waits, untouched
                log.warning("file drop %s not read: %s", path, exc)
                if summary is not None:
                    summary.file_problems.append((path.name, f"not read: {exc}"))
                continue
            if summary is not None:
                summary.file_notes.extend(result.notes if result.status in ("superseded", "skipped") else [])
            if result.status == "running" and result.batch_id:
                batch_ids.append(result.batch_id)
    return batch_ids


def stage(settings: Settings, batch_ids: list[str], *, con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
    """Type and trim the batches into ``staging`` (one transaction)."""
    return _guarded(settings, batch_ids, lambda c: staging_mod.stage_batches(c, settings, batch_ids), con)


def _validate_in(con: duckdb.DuckDBPyConnection, settings: Settings, batch_ids: list[str]) -> dict[str, Any]:
    try:
        from warehouse.quality.suites import suite_path
        from warehouse.quality.validation import validate_staged
    except ImportError as exc:  # the validation area's module is not there yet
        log.warning("validation skipped: %s", exc)
        return {"validated": 0, "rows_quarantined": 0, "warnings": 0}
    summary = {"validated": 0, "rows_quarantined": 0, "warnings": 0}
    running = _running(con, batch_ids)
    empty = staging_mod.empty_database_batches(con, running)
    if empty:  # a source table with no changes: no row to check (a shop's services tables, quiet days)
        con.execute("update audit.load_batches set step = 'validated' where batch_id in (select unnest(?))", [empty])
    for info in staging_mod.batch_info(con, [b for b in running if b not in empty]):
        table = info.staging_table
        if not (EXPECTATIONS_DIR / f"{table}.json").is_file():
            log.info("no expectation suite for %s: batch %s not validated", table, info.batch_id)
            continue
        # validate_staged commits its own transaction (quarantine moves + results); the batch's final
        # accounting is recomputed from the tables when its facts commit (warehouse.core.load.close_batches)
        try:
            outcome = validate_staged(con, settings, table, info.batch_id)
        except Exception as exc:
            if info.source_kind == "database":
                raise
            # poison isolation: a file drop that cannot be validated fails alone, the run goes on
            with contextlib.suppress(duckdb.Error):
                con.execute("rollback")
            _mark_failed(con, [info.batch_id], exc)
            log.warning("file batch %s failed validation: %s", info.batch_id, exc)
            continue
        quarantined = quarantined_count(con, table, info.batch_id)
        warnings = int(getattr(outcome, "warnings", 0) or 0)
        con.execute("update audit.load_batches set rows_quarantined = ?, warnings = ?, step = 'validated' "
                    "where batch_id = ?", [quarantined, warnings, info.batch_id])
        summary["validated"] += 1
        summary["rows_quarantined"] += quarantined
        summary["warnings"] += warnings
    _ = suite_path
    return summary


def validate(settings: Settings, batch_ids: list[str], *,
             con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
    """Run each staged batch through ``warehouse.quality.validation.validate_staged`` (quarantine + results).

    A critical failure marks that batch failed and re-raises ``CriticalValidationError``: nothing of
    it is loaded."""
    def step(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        try:
            return _validate_in(con, settings, batch_ids)
        except CriticalValidationError:
            raise
    return _guarded(settings, batch_ids, step, con)


def load_dimensions(settings: Settings, batch_ids: list[str], *,
                    con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Load every dimension from the staged batches (one transaction)."""
    def step(con: duckdb.DuckDBPyConnection) -> None:
        ids = _running(con, batch_ids)
        if not ids:
            return
        with transaction(con):
            load_mod.load_dimensions_in(con, settings, ids)
    _guarded(settings, batch_ids, step, con)


def load_facts(settings: Settings, batch_ids: list[str], cutoff: datetime | None = None, *,
               con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Load the facts, close the batches' accounting, advance watermarks, then check the core tables
    (:func:`validate_core_tables`), all in one transaction: a critical post-load failure rolls it back."""
    def step(con: duckdb.DuckDBPyConnection) -> None:
        ids = _running(con, batch_ids)
        if not ids:
            return
        # open tickets' SLA and unpaid payments' lateness are as of the latest cut-off ever loaded, so
        # a backfill of a past interval does not turn the clock back (and a rerun changes nothing)
        row = con.execute("select max(interval_end) from audit.load_batches where source_kind = 'database' "
                          "and (status = 'succeeded' or batch_id in (select unnest(?::varchar[])))",
                          [ids]).fetchone()
        has_crm = con.execute("select count(*) from audit.load_batches where source_kind = 'database' "
                              "and batch_id in (select unnest(?::varchar[]))", [ids]).fetchone()[0]
        as_of = None
        if has_crm:
            candidates = [t for t in (cutoff, row[0] if row else None) if t is not None]
            as_of = max(candidates) if candidates else None
        # the core checks look at the fact rows this load wrote (recorded by the fact upserts)
        with transaction(con), recording_writes(con):
            load_mod.load_facts_in(con, settings, ids, as_of)
            validate_core_tables(con, settings, ids)
    _guarded(settings, batch_ids, step, con)


def validate_core_tables(con: duckdb.DuckDBPyConnection, settings: Settings, batch_ids: list[str]) -> list[str]:
    """Post-load checks (grain, keys, core totals = staging totals - quarantined, one current version per
    business id) on every ``core`` table that has a suite in ``expectations/``, inside the load's
    transaction: a critical failure raises ``CriticalValidationError`` and the load rolls back.
    Returns the tables checked."""
    from warehouse.quality.validation import validate_core

    tables = [r[0] for r in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'core' order by table_name").fetchall()]
    checked = [t for t in tables if (EXPECTATIONS_DIR / f"{t}.json").is_file() and not _nothing_loaded(con, t, batch_ids)]
    for table in checked:
        validate_core(con, settings, table, batch_ids)
    return checked


def _nothing_loaded(con: duckdb.DuckDBPyConnection, table: str, batch_ids: list[str]) -> bool:
    """An empty core table none of whose staged sources got rows in these batches (a shop's services
    facts): there is nothing its suite could find."""
    from warehouse.quality.suites import load_suite

    if con.execute(f"select exists (select 1 from core.{table})").fetchall()[0][0]:  # noqa: S608 - catalog name
        return False
    sources = [src["staging_table"] for rule in load_suite(table).rules
               if rule.expectation_type == "crmwh_loaded_totals_reconcile" for src in rule.kwargs.get("sources", [])]
    for staging in sources:
        if table_exists(con, staging) and con.execute(f"select exists (select 1 from {staging} where _batch_id in "  # noqa: S608
                                  "(select unnest(?::varchar[])))", [batch_ids]).fetchall()[0][0]:
            return False
    return True


def batch_summary(settings: Settings, batch_ids: list[str], *,
                  con: duckdb.DuckDBPyConnection | None = None) -> list[dict[str, Any]]:
    if not batch_ids:
        return []
    with _writer(settings, con) as writer:
        rows = writer.execute(
            "select batch_id, source, entity, status, rows_read, rows_loaded, rows_quarantined, warnings, error "
            "from audit.load_batches where batch_id in (select unnest(?::varchar[])) order by started_at",
            [batch_ids]).fetchall()
    keys = ("batch_id", "source", "entity", "status", "rows_read", "rows_loaded", "rows_quarantined",
            "warnings", "error")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def process(settings: Settings, batch_ids: list[str], cutoff: datetime | None = None, *,
            con: duckdb.DuckDBPyConnection | None = None) -> None:
    """stage -> validate -> load dimensions -> load facts for extracted batches."""
    if not batch_ids:
        return
    stage(settings, batch_ids, con=con)
    validate(settings, batch_ids, con=con)
    load_dimensions(settings, batch_ids, con=con)
    load_facts(settings, batch_ids, cutoff, con=con)


def run(settings: Settings, interval: Interval, *, include_crm: bool = True, include_files: bool = True,
        run_id: str | None = None) -> RunSummary:
    """One in-process pipeline run (what the DAG does, without a scheduler)."""
    run_id = run_id or f"run.{datetime.now().strftime('%Y%m%dT%H%M%S')}.{uuid.uuid4().hex[:6]}"
    settings.ensure_dirs()
    batch_ids: list[str] = []
    with warehouse_writer(settings) as con:  # one connection and one hold of the lock for the whole run
        limit_memory(con, settings)
        if include_crm:
            batch_ids += extract_source(settings, extract_mod.CRM_SOURCE, interval, run_id, con=con)
        summary = RunSummary(run_id)
        if include_files:
            batch_ids += extract_files(settings, run_id, con=con, summary=summary)
        process(settings, batch_ids, interval.end if include_crm else None, con=con)
        summary.batch_ids = batch_ids
        for row in batch_summary(settings, batch_ids, con=con):
            summary.rows_read += row["rows_read"]
            summary.rows_loaded += row["rows_loaded"]
            summary.rows_quarantined += row["rows_quarantined"]
            summary.warnings += row["warnings"]
        summary.rejected = [r[0] for r in con.execute(
            "select batch_id from audit.load_batches where run_id = ? and status = 'rejected'", [run_id]).fetchall()]
        for name, error in con.execute(
                "select file_name, error from audit.load_batches where run_id = ? and source_kind = 'file' "
                "and status = 'failed' order by started_at", [run_id]).fetchall():
            summary.file_problems.append((name, error))
    return summary


def ingest_file(settings: Settings, path: Path | str, profile: str | None = None) -> files_mod.BatchResult:
    """Register and load one file drop (copied into the landing folder when it comes from elsewhere).

    ``profile`` is a profile name or the path of a profile file. Content that was rejected or failed
    before is read again (with this profile); only loaded content counts as registered."""
    settings.ensure_dirs()
    if profile is not None:
        from warehouse.ingest.profiles import load_profile

        load_profile(profile, settings)  # unknown or invalid profile: a clear error before anything is written
    source = Path(path)
    if source.is_symlink():
        raise RejectedBatchError(f"{source}: is a symbolic link; give the file itself "
                                 "(file drops never follow links, see RELIABILITY.md)")
    if not source.is_file():
        raise files_mod.SourceError(f"no such file: {source}")
    sha = files_mod.sha256_of(source)
    folder = profile if profile is not None and not files_mod.is_profile_path(profile) else None
    placed = files_mod.place_in_landing(settings, source, folder, sha=sha)
    with warehouse_writer(settings) as con:
        limit_memory(con, settings)
        result = files_mod.extract_file(con, settings, placed, profile, sha=sha)
        if result.status != "running" or not result.batch_id:
            return result
        process(settings, [result.batch_id], None, con=con)
        row = batch_summary(settings, [result.batch_id], con=con)[0]
        notes = con.execute("select notes from audit.load_batches where batch_id = ?", [result.batch_id]).fetchone()
    result.status = row["status"]
    result.rows_read, result.rows_loaded = row["rows_read"], row["rows_loaded"]
    result.rows_quarantined, result.warnings, result.error = row["rows_quarantined"], row["warnings"], row["error"]
    result.notes = [n for n in (notes[0] or "").split("; ") if n] if notes else result.notes
    return result
