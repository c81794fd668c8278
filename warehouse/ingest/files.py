"""File drops: CSV (any delimiter; UTF-8, Windows-1252 or Latin-1), XLSX and Parquet.

A file is mapped onto canonical sales lines by a source profile (``warehouse.ingest.profiles``: shipped or the
user's own in ``<data dir>/profiles``, or a path) and extracted into ``raw.files__sales_lines`` as one
batch. Reading is strict and bounded (``warehouse.ingest.file_reader``): a file that cannot be read faithfully
is *rejected* with one line of reason, recorded in ``audit.load_batches`` and ``audit.file_registry``
with its sha256, and moved to the rejected folder (``settings.rejected_dir``, beside the landing
folder) so it never blocks a later run; the rest of the run goes on.

Content registry (``audit.file_registry``, one row per content sha256): only *loaded* content counts as
registered. Rejected or failed content can be ingested again, fixed or with another profile
(``crmwh ingest FILE --profile P``); the landing scan does not retry rejected content on its own.

Deliveries: a file's *delivery* is its name in the landing folder (``canonical/sales.csv``; a copy
that had to be renamed, ``sales.20240301T101500000000.csv``, is the same delivery). New content under
a delivery already loaded is a re-delivery: it replaces exactly the lines the earlier version
delivered (``warehouse.ingest.file_deliveries``). Content equal to an *older* version of a delivery whose
newer version is loaded is reported and not loaded again.

The landing folder (``settings.landing_dir``) is scanned by every run; a file in a sub-folder named
after a profile (``landing/online_retail/x.csv``) uses that profile, others are matched by header. Only
regular files inside the landing folder are read; symlinks, paths leading out, dot-files (including
copies still in progress) and unsupported types are skipped and reported (``audit.skipped_files``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from warehouse.foundation.db import STORAGE_ERRNOS, os_failure
from warehouse.foundation.errors import CrmwhError, RejectedBatchError, SourceError
from warehouse.foundation.settings import Settings
from warehouse.ingest.extract import new_batch_id
from warehouse.ingest.file_formats import DateOrderDecision, decide_date_order
from warehouse.ingest.file_reader import SOURCE_ROW, SUPPORTED_SUFFIXES, DropTable, read_drop
from warehouse.ingest.profiles import (
    CANONICAL_COLUMNS,
    ProfileError,
    SourceProfile,
    available_profiles,
    is_profile_path,
    load_profile,
)

log = logging.getLogger(__name__)

FILES_SOURCE_PREFIX = "file"
ENTITY = "sales_lines"
RAW_TABLE = "raw.files__sales_lines"
STAGING_TABLE = "stg_files__sales_lines"
PARTIAL_PREFIX = ".crmwh-partial-"
# the stamp place_in_landing adds to a new version of a file whose name is taken in the landing folder
_STAMP = re.compile(r"\.\d{8}T\d{12}$")

__all__ = ["SUPPORTED_SUFFIXES", "BatchResult", "ProfileError", "SourceError", "extract_file",
           "is_profile_path", "place_in_landing", "scan_landing"]


class LandingCopyError(SourceError):
    """A file could not be copied into the landing folder (nothing was registered)."""


@dataclass
class BatchResult:
    """What happened to one file drop."""

    batch_id: str | None
    source: str
    file_name: str
    profile: str | None
    status: str  # succeeded | failed | rejected | duplicate | superseded | running
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_blank: int = 0
    warnings: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    """A path in the landing folder that a run did not read, and why."""

    path: str
    reason: str


@dataclass
class LandingScan:
    files: list[tuple[Path, str | None]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- profiles ---------------------------------------------------------------------------------------------
def choose_profile(header: list[str], requested: str | None, settings: Settings) -> SourceProfile:
    """The requested profile, else the first (default first) whose required columns are all present.
    A user profile that is not valid is passed over (logged): it must not reject the files of others."""
    if requested:
        return load_profile(requested, settings)
    default = settings.ingest.default_file_profile
    names = [default] + [n for n in available_profiles(settings) if n != default]
    for name in names:
        try:
            profile = load_profile(name, settings)
        except ProfileError as exc:
            log.warning("profile %s passed over: %s", name, exc)
            continue
        if not profile.match_columns(header)[1]:
            return profile
    return load_profile(default, settings)


def _header_text(header: list[str]) -> str:
    shown = ", ".join(header[:20]) + (f", ... ({len(header)} columns)" if len(header) > 20 else "")
    return shown[:400]


def to_canonical(frame: pl.DataFrame, profile: SourceProfile, file_name: str, *, chosen_by_header: bool,
                 settings: Settings) -> pl.DataFrame:
    """Canonical text columns + the original record as JSON; RejectedBatchError if required ones miss
    (the message shows the file's header, the profile's expected columns and what to do)."""
    header = [c for c in frame.columns if c != SOURCE_ROW]
    found, missing = profile.match_columns(header)
    if missing:
        others = [n for n in available_profiles(settings) if n != profile.name]
        hint = ("no profile matches this header; " if chosen_by_header else "") + \
            f"use --profile with one of {', '.join(others) or '(none)'} or a .toml path, or propose one with " \
            "`crmwh profile infer FILE`"
        raise RejectedBatchError(
            f"{file_name}: missing required column(s) {', '.join(missing)} for profile {profile.name}; "
            f"the file's header: {_header_text(header)}; profile {profile.name} expects: "
            f"{profile.expected_columns()}; {hint}")
    exprs = [pl.col(found[c]).alias(c) if c in found else pl.lit(None, pl.Utf8).alias(c)
             for c in CANONICAL_COLUMNS]
    record = pl.struct([pl.col(c) for c in header]).struct.json_encode().alias("_record")
    return frame.select([pl.col(SOURCE_ROW).cast(pl.Int64), *exprs, record])


# --- the landing folder -------------------------------------------------------------------------------------
def inside(path: Path, folder: Path) -> bool:
    """True when ``path`` (no symlink anywhere below ``folder``) lies inside ``folder``."""
    folder = folder.resolve()
    try:
        relative = path.absolute().relative_to(folder)
    except ValueError:
        return False
    if ".." in relative.parts:
        return False
    current = folder
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            return False
    return path.resolve().is_relative_to(folder)


def scan_landing_report(settings: Settings) -> LandingScan:
    """Files to read in the landing folder (path, profile named by its sub-folder or None) and every
    path skipped, with its reason."""
    landing = Path(settings.landing_dir)
    scan = LandingScan()
    if not landing.is_dir():
        return scan
    profiles = set(available_profiles(settings))
    for path in sorted(landing.rglob("*")):
        relative = path.relative_to(landing)
        shown = str(relative)
        hidden = [i for i, p in enumerate(relative.parts) if p.startswith(".")]
        if hidden:
            if hidden[0] < len(relative.parts) - 1:
                continue  # inside a dot-folder: the folder itself is reported once
            if path.name.startswith(PARTIAL_PREFIX):
                reason = "a copy in progress or left by a failed copy (never registered)"
            else:
                reason = "a dot-folder" if path.is_dir() and not path.is_symlink() else "a dot-file"
            scan.skipped.append(Skipped(shown, reason))
            continue
        if not inside(path, landing):
            log.warning("skipping %s: it leads outside the landing folder", path)
            scan.skipped.append(Skipped(shown, "a symbolic link or a path leading outside the landing folder"))
            continue
        if path.is_dir():
            continue
        if not path.is_file():
            scan.skipped.append(Skipped(shown, "not a regular file"))
            continue
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            scan.skipped.append(Skipped(shown, f"unsupported file type {path.suffix or '(none)'} "
                                               f"(read: {', '.join(SUPPORTED_SUFFIXES)})"))
            continue
        parent = relative.parts[0] if len(relative.parts) > 1 else None
        scan.files.append((path, parent if parent in profiles else None))
    return scan


def scan_landing(settings: Settings) -> list[tuple[Path, str | None]]:
    """Files to consider in the landing folder: (path, profile named by its sub-folder or None)."""
    return scan_landing_report(settings).files


def record_skipped(con: duckdb.DuckDBPyConnection, skipped: list[Skipped], run_id: str | None) -> None:
    """``audit.skipped_files`` holds what the landing folder holds and runs do not read: each skipped path
    with its reason, first and last time seen and the last run (paths gone since are dropped)."""
    now = datetime.now()
    con.execute("delete from audit.skipped_files where path not in (select unnest(?::varchar[]))",
                [[item.path for item in skipped]])
    for item in skipped:
        con.execute(
            """insert into audit.skipped_files (path, reason, first_seen, last_seen, last_run_id, times_seen)
               values (?, ?, ?, ?, ?, 1)
               on conflict (path) do update set reason = excluded.reason, last_seen = excluded.last_seen,
                   last_run_id = excluded.last_run_id, times_seen = audit.skipped_files.times_seen + 1""",
            [item.path, item.reason, now, now, run_id])


def delivery_of(settings: Settings, path: Path) -> str:
    """The delivery a file belongs to: its path in the landing folder without a version stamp."""
    try:
        relative = Path(path).absolute().relative_to(Path(settings.landing_dir).resolve())
    except ValueError:
        relative = Path(Path(path).name)
    stem = _STAMP.sub("", relative.stem)
    return str(relative.with_name(stem + relative.suffix))


def place_in_landing(settings: Settings, path: Path, profile: str | None, *,
                     sha: str | None = None) -> Path:
    """The file's place in the landing folder, copied there atomically when it comes from elsewhere.

    The copy goes to a hidden temporary name (which the landing scan skips), is checked against the
    source's sha256 and only then renamed into place, so a copy cut short (a full disk) is never
    registered. Symbolic links are refused, as is any path leading out of the landing folder."""
    landing = Path(settings.landing_dir)
    landing.mkdir(parents=True, exist_ok=True)
    path = Path(path)
    if path.absolute().is_relative_to(landing.resolve()) or path.absolute().is_relative_to(landing.absolute()):
        if not inside(path, landing):
            raise RejectedBatchError(f"{path}: leads outside the landing folder {landing} (symlink or '..')")
        return path
    if path.is_symlink():
        raise RejectedBatchError(f"{path}: is a symbolic link (to {os.readlink(path)}); give the file itself "
                                 "(file drops never follow links, see RELIABILITY.md)")
    if not path.is_file():
        raise SourceError(f"no such file: {path}")
    sha = sha or sha256_of(path)
    target_dir = landing / profile if profile and "/" not in profile and not profile.endswith(".toml") else landing
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        if sha256_of(target) == sha:
            return target
        target = target_dir / f"{path.stem}.{datetime.now().strftime('%Y%m%dT%H%M%S%f')}{path.suffix}"
    _atomic_copy(path, target, sha)
    return target


def _atomic_copy(source: Path, target: Path, sha: str) -> None:
    partial = target.with_name(f"{PARTIAL_PREFIX}{uuid.uuid4().hex[:12]}-{target.name}")
    try:
        with source.open("rb") as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        copied = sha256_of(partial)
        if copied != sha:
            raise LandingCopyError(f"cannot copy {source} into the landing folder: the copy's sha256 differs "
                                   "from the file's (it changed while being copied?); nothing was registered")
        shutil.copystat(source, partial)
        os.replace(partial, target)
    except OSError as exc:
        if exc.errno in STORAGE_ERRNOS:  # full or read-only disk: the same words as every other command
            named = exc if exc.filename else OSError(exc.errno, exc.strerror, str(partial))
            raise LandingCopyError(f"{os_failure(named)}; {source} was not copied into the landing folder, "
                                   "nothing was registered") from exc
        raise LandingCopyError(f"cannot copy {source} into the landing folder {target.parent}: "
                               f"{exc.strerror or exc}; nothing was registered") from exc
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()


def move_to_rejected(settings: Settings, path: Path) -> Path | None:
    """Move a rejected file out of the landing folder (same sub-folder under the rejected folder)."""
    landing = Path(settings.landing_dir).resolve()
    try:
        relative = Path(path).absolute().relative_to(landing)
    except ValueError:
        return None  # not ours to move (a file given from elsewhere stays where it is)
    target = settings.rejected_dir / relative
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target = target.with_name(f"{target.stem}.{datetime.now().strftime('%Y%m%dT%H%M%S%f')}{target.suffix}")
        os.replace(path, target)
    except OSError as exc:
        log.warning("could not move rejected file %s to %s: %s", path, target, exc)
        return None
    return target


# --- registering and extracting ------------------------------------------------------------------------------
def _record_rejection(con: duckdb.DuckDBPyConnection, batch_id: str, source: str, path: Path, sha: str,
                      size: int, profile: SourceProfile | None, error: str, run_id: str | None,
                      started: datetime, delivery: str, moved_to: Path | None) -> None:
    note = f"moved to {moved_to}" if moved_to else None
    con.execute("begin transaction")
    try:
        con.execute(
            """insert into audit.load_batches (batch_id, run_id, source, entity, source_kind, started_at,
               finished_at, status, step, error, file_name, file_sha256, profile, staging_table, delivery,
               profile_spec, notes)
               values (?, ?, ?, ?, 'file', ?, ?, 'rejected', 'extracted', ?, ?, ?, ?, ?, ?, ?, ?)""",
            [batch_id, run_id, source, ENTITY, started, datetime.now(), error, path.name, sha,
             profile.name if profile else None, STAGING_TABLE, delivery, profile.spec() if profile else None, note])
        con.execute("delete from audit.file_registry where sha256 = ?", [sha])
        con.execute(
            """insert into audit.file_registry (sha256, file_name, file_path, profile, size_bytes, batch_id,
               status, registered_at, delivery) values (?, ?, ?, ?, ?, ?, 'rejected', ?, ?)""",
            [sha, path.name, str(moved_to or path), profile.name if profile else None, size, batch_id,
             datetime.now(), delivery])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _prior(con: duckdb.DuckDBPyConnection, sha: str) -> tuple | None:
    return con.execute("select status, batch_id, profile, delivery, file_path from audit.file_registry "
                       "where sha256 = ?", [sha]).fetchone()


def _newer_version(con: duckdb.DuckDBPyConnection, delivery: str | None, profile: str | None,
                   batch_id: str) -> tuple | None:
    """The latest loaded version of a delivery when it is not ``batch_id``: (batch id, file name, started)."""
    if not delivery:
        return None
    row = con.execute(
        """select batch_id, file_name, started_at from audit.load_batches
           where source_kind = 'file' and delivery = ? and profile is not distinct from ? and status = 'succeeded'
           order by started_at desc, batch_id desc limit 1""", [delivery, profile]).fetchone()
    return row if row and row[0] != batch_id else None


def extract_file(con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, profile: str | None = None,
                 run_id: str | None = None, *, explicit: bool = True, sha: str | None = None,
                 delivery: str | None = None) -> BatchResult:
    """Register one file and write its lines to ``raw.files__sales_lines`` as a new batch.

    Returns status ``duplicate`` (this content is loaded already), ``superseded`` (it is an older version
    of a delivery whose newer version is loaded: reported, not loaded), ``skipped`` (the landing scan
    met content rejected before; ``explicit`` ingests retry it) or ``running`` (extracted, to be staged
    and loaded). A file that cannot be read records a rejected batch, is moved to the rejected folder
    and raises RejectedBatchError.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"no such file: {path}")
    sha = sha or sha256_of(path)
    size = path.stat().st_size
    delivery = delivery or delivery_of(settings, path)
    prior = _prior(con, sha)
    if prior is not None and prior[0] == "loaded":
        newer = _newer_version(con, prior[3], prior[2], prior[1])
        source = f"{FILES_SOURCE_PREFIX}:{prior[2]}"
        if newer is not None:
            note = (f"{path.name} is an older version of delivery {prior[3]} (loaded as batch {prior[1]}), "
                    f"superseded by {newer[1]} (batch {newer[0]}, {newer[2]:%Y-%m-%d %H:%M}); nothing loaded. "
                    "To make it current again, change its content or deliver it under another name")
            log.warning("%s", note)
            return BatchResult(prior[1], source, path.name, prior[2], "superseded", notes=[note])
        return BatchResult(prior[1], source, path.name, prior[2], "duplicate")
    if prior is not None and prior[0] == "rejected" and not explicit:
        note = f"{path.name}: this content was rejected before (batch {prior[1]}); ingest it with `crmwh ingest`"
        return BatchResult(prior[1], f"{FILES_SOURCE_PREFIX}:{prior[2]}", path.name, prior[2], "skipped",
                           notes=[note])
    started = datetime.now()
    chosen: SourceProfile | None = None
    # a broken profile is not the file's fault: ProfileError goes to the caller, the file stays where it is
    requested = load_profile(profile, settings) if profile else None
    try:
        table = read_drop(path, settings.files, delimiter=(requested.delimiter or None) if requested else None)
        chosen = requested or choose_profile(table.header, None, settings)
        lines = to_canonical(table.frame, chosen, path.name, chosen_by_header=requested is None, settings=settings)
        decision = decide_date_order(lines["order_ts"], chosen)
    except CrmwhError as exc:
        reason = str(exc) if isinstance(exc, RejectedBatchError) else f"{path.name}: {exc}"
        _reject_file(con, settings, path, sha, size, chosen, reason, run_id, started, delivery)
        raise RejectedBatchError(reason) from exc
    except Exception as exc:  # noqa: BLE001 - poison isolation: any failure to read is a rejection
        reason = f"{path.name}: unreadable ({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
        _reject_file(con, settings, path, sha, size, chosen, reason, run_id, started, delivery)
        raise RejectedBatchError(reason) from exc
    return _write_raw(con, path, sha, size, chosen, table, lines, decision, run_id, started, delivery)


def _reject_file(con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, sha: str, size: int,
                 profile: SourceProfile | None, reason: str, run_id: str | None, started: datetime,
                 delivery: str) -> None:
    name = profile.name if profile else settings.ingest.default_file_profile
    source = f"{FILES_SOURCE_PREFIX}:{name}"
    batch_id = new_batch_id(source.replace(":", "_"), ENTITY, started)
    moved = move_to_rejected(settings, path)
    _record_rejection(con, batch_id, source, path, sha, size, profile, reason, run_id, started, delivery, moved)
    log.info("rejected file drop %s%s: %s", path.name, f" (moved to {moved})" if moved else "", reason)


def _notes(table: DropTable, decision: DateOrderDecision) -> list[str]:
    notes = list(table.notes)
    if table.blank_rows:
        notes.append(f"{table.blank_rows} blank line(s) skipped")
    if table.encoding not in (None, "utf-8"):
        notes.append(f"read as {table.encoding} (not UTF-8)")
    if decision.note:
        notes.append(decision.note)
    return notes


def _write_raw(con: duckdb.DuckDBPyConnection, path: Path, sha: str, size: int, chosen: SourceProfile,
               table: DropTable, lines: pl.DataFrame, decision: DateOrderDecision, run_id: str | None,
               started: datetime, delivery: str) -> BatchResult:
    source = f"{FILES_SOURCE_PREFIX}:{chosen.name}"
    batch_id = new_batch_id(f"{FILES_SOURCE_PREFIX}_{chosen.name}", ENTITY, started)
    notes = _notes(table, decision)
    # created (and committed) before the data transaction: see warehouse.ingest.staging._write_staging
    cols = ", ".join(f'"{c}" varchar' for c in CANONICAL_COLUMNS)
    con.execute(
        f"create table if not exists {RAW_TABLE} (_batch_id varchar not null, _source varchar not null, "
        f"_source_row bigint not null, _extracted_at timestamp not null, _file_name varchar, "
        f"_profile varchar, {cols}, _record varchar)")
    con.execute("begin transaction")
    try:
        con.register("_file_src", lines.to_arrow())
        col_list = ", ".join(CANONICAL_COLUMNS)
        con.execute(
            f"insert into {RAW_TABLE} (_batch_id, _source, _source_row, _extracted_at, _file_name, _profile, "
            f"{col_list}, _record) select ?, ?, _source_row, ?, ?, ?, {col_list}, _record from _file_src",
            [batch_id, source, started, path.name, chosen.name])
        con.unregister("_file_src")
        con.execute(
            """insert into audit.load_batches (batch_id, run_id, source, entity, source_kind, started_at,
               rows_read, rows_blank, status, step, file_name, file_sha256, profile, staging_table, delivery,
               profile_spec, date_order, notes)
               values (?, ?, ?, ?, 'file', ?, ?, ?, 'running', 'extracted', ?, ?, ?, ?, ?, ?, ?, ?)""",
            [batch_id, run_id, source, ENTITY, started, lines.height, table.blank_rows, path.name, sha,
             chosen.name, STAGING_TABLE, delivery, chosen.spec(), decision.order, "; ".join(notes) or None])
        con.execute("delete from audit.file_registry where sha256 = ?", [sha])
        con.execute(
            """insert into audit.file_registry (sha256, file_name, file_path, profile, size_bytes, batch_id,
               status, registered_at, delivery) values (?, ?, ?, ?, ?, ?, 'running', ?, ?)""",
            [sha, path.name, str(path), chosen.name, size, batch_id, datetime.now(), delivery])
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.unregister("_file_src")
        con.execute("rollback")
        raise
    return BatchResult(batch_id, source, path.name, chosen.name, "running", rows_read=lines.height,
                       rows_blank=table.blank_rows, notes=notes)

