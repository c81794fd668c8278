"""File drops: CSV (any delimiter, UTF-8 with or without BOM, Latin-1 fallback), XLSX and Parquet.

A file is mapped onto canonical sales lines by a source profile (``warehouse/profiles/*.toml``) and
extracted into ``raw.files__sales_lines`` as one batch. Its content hash (sha256) is registered in
``audit.file_registry``: the same content again loads nothing; changed content is a new batch.
Whole-file defects (empty, header only, a required column missing, unreadable) become a rejected batch
in ``audit.load_batches`` and raise :class:`RejectedBatchError`.

The landing folder (``settings.landing_dir``) is scanned by every run; a file in a sub-folder named
after a profile (``landing/online_retail/x.csv``) uses that profile, others are matched by header.
Only regular files inside the landing folder are read: symlinks and paths leading out are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from warehouse.errors import RejectedBatchError, SourceError
from warehouse.extract import new_batch_id
from warehouse.profiles import CANONICAL_COLUMNS, SourceProfile, available_profiles, load_profile
from warehouse.settings import Settings

log = logging.getLogger(__name__)

FILES_SOURCE_PREFIX = "file"
ENTITY = "sales_lines"
RAW_TABLE = "raw.files__sales_lines"
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + EXCEL_SUFFIXES + PARQUET_SUFFIXES


@dataclass
class BatchResult:
    """What happened to one file drop."""

    batch_id: str | None
    source: str
    file_name: str
    profile: str | None
    status: str  # succeeded | failed | rejected | duplicate | running
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    warnings: int = 0
    error: str | None = None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def decode_text(data: bytes) -> str:
    """UTF-8 (a BOM is dropped), else Latin-1 (every byte sequence decodes)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        counts = {d: first.count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def read_drop(path: Path) -> pl.DataFrame:
    """Every column of a file drop as text (column names as in the file, BOM and blanks stripped)."""
    suffix = path.suffix.lower()
    try:
        if suffix in CSV_SUFFIXES:
            data = path.read_bytes()
            if not data.strip():
                raise RejectedBatchError(f"{path.name}: the file is empty")
            text = decode_text(data)
            sample = "\n".join(text[:65536].splitlines()[:50])
            delimiter = "\t" if suffix == ".tsv" else sniff_delimiter(sample)
            frame = pl.read_csv(io.BytesIO(text.encode("utf-8")), separator=delimiter, infer_schema=False,
                                raise_if_empty=False)
        elif suffix in EXCEL_SUFFIXES:
            if path.stat().st_size == 0:
                raise RejectedBatchError(f"{path.name}: the file is empty")
            frame = pl.read_excel(path, engine="calamine", infer_schema_length=0)
        elif suffix in PARQUET_SUFFIXES:
            if path.stat().st_size == 0:
                raise RejectedBatchError(f"{path.name}: the file is empty")
            frame = pl.read_parquet(path)
        else:
            raise RejectedBatchError(
                f"{path.name}: unsupported file type {suffix or '(none)'} (use {', '.join(SUPPORTED_SUFFIXES)})")
    except RejectedBatchError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means the file cannot be read
        raise RejectedBatchError(f"{path.name}: unreadable ({type(exc).__name__}: {str(exc).splitlines()[0]})") from exc
    frame = frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns})
    frame = frame.with_columns(pl.all().cast(pl.Utf8))
    if not frame.columns or all(not c for c in frame.columns):
        raise RejectedBatchError(f"{path.name}: no header row")
    if frame.height == 0:
        raise RejectedBatchError(f"{path.name}: the file has a header but no rows")
    return frame


def choose_profile(header: list[str], requested: str | None, default: str) -> SourceProfile:
    """The requested profile, else the first (default first) whose required columns are all present."""
    if requested:
        return load_profile(requested)
    names = [default] + [n for n in available_profiles() if n != default]
    for name in names:
        profile = load_profile(name)
        if not profile.match_columns(header)[1]:
            return profile
    return load_profile(default)


def to_canonical(frame: pl.DataFrame, profile: SourceProfile, file_name: str) -> pl.DataFrame:
    """Canonical text columns + the original record as JSON; raises RejectedBatchError if required ones miss."""
    found, missing = profile.match_columns(frame.columns)
    if missing:
        raise RejectedBatchError(
            f"{file_name}: missing required column(s) {', '.join(missing)} for profile {profile.name}")
    exprs = [pl.col(found[c]).alias(c) if c in found else pl.lit(None, pl.Utf8).alias(c)
             for c in CANONICAL_COLUMNS]
    record = pl.struct([pl.col(c) for c in frame.columns]).struct.json_encode().alias("_record")
    return frame.select([*exprs, record]).with_row_index("_source_row", offset=1)


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


def scan_landing(settings: Settings) -> list[tuple[Path, str | None]]:
    """Files to consider in the landing folder: (path, profile named by its sub-folder or None)."""
    landing = Path(settings.landing_dir)
    if not landing.is_dir():
        return []
    profiles = set(available_profiles())
    found: list[tuple[Path, str | None]] = []
    for path in sorted(landing.rglob("*")):
        if path.name.startswith(".") or any(p.startswith(".") for p in path.relative_to(landing).parts):
            continue
        if not inside(path, landing):
            log.warning("skipping %s: it leads outside the landing folder", path)
            continue
        if not path.is_file() or path.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        parent = path.parent.name if path.parent != landing.resolve() and path.parent != landing else None
        found.append((path, parent if parent in profiles else None))
    return found


def _record_rejection(con: duckdb.DuckDBPyConnection, batch_id: str, source: str, path: Path, sha: str,
                      profile: str | None, error: str, run_id: str | None, started: datetime) -> None:
    con.execute("begin transaction")
    try:
        con.execute(
            """insert into audit.load_batches (batch_id, run_id, source, entity, source_kind, started_at,
               finished_at, status, step, error, file_name, file_sha256, profile, staging_table)
               values (?, ?, ?, ?, 'file', ?, ?, 'rejected', 'extracted', ?, ?, ?, ?, 'stg_files__sales_lines')""",
            [batch_id, run_id, source, ENTITY, started, datetime.now(), error, path.name, sha, profile])
        con.execute("delete from audit.file_registry where sha256 = ?", [sha])
        con.execute(
            """insert into audit.file_registry (sha256, file_name, file_path, profile, size_bytes, batch_id,
               status, registered_at) values (?, ?, ?, ?, ?, ?, 'rejected', ?)""",
            [sha, path.name, str(path), profile, path.stat().st_size, batch_id, datetime.now()])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def extract_file(con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, profile: str | None = None,
                 run_id: str | None = None) -> BatchResult:
    """Register one file and write its lines to ``raw.files__sales_lines`` as a new batch.

    Returns status ``duplicate`` (nothing done) when the same content was registered before, ``running``
    (extracted, to be staged and loaded) otherwise; a whole-file defect records a rejected batch and
    raises RejectedBatchError.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"no such file: {path}")
    sha = sha256_of(path)
    prior = con.execute("select status, batch_id, profile from audit.file_registry where sha256 = ?",
                        [sha]).fetchone()
    if prior is not None and prior[0] in ("loaded", "rejected"):
        return BatchResult(prior[1], f"{FILES_SOURCE_PREFIX}:{prior[2]}", path.name, prior[2], "duplicate")
    started = datetime.now()
    profile_name = profile
    try:
        frame = read_drop(path)
        chosen = choose_profile(frame.columns, profile, settings.ingest.default_file_profile)
        profile_name = chosen.name
        lines = to_canonical(frame, chosen, path.name)
    except RejectedBatchError as exc:
        source = f"{FILES_SOURCE_PREFIX}:{profile_name or settings.ingest.default_file_profile}"
        batch_id = new_batch_id(source.replace(":", "_"), ENTITY, started)
        _record_rejection(con, batch_id, source, path, sha, profile_name, str(exc), run_id, started)
        raise
    source = f"{FILES_SOURCE_PREFIX}:{chosen.name}"
    batch_id = new_batch_id(f"{FILES_SOURCE_PREFIX}_{chosen.name}", ENTITY, started)
    # created (and committed) before the data transaction: see warehouse.staging._write_staging
    cols = ", ".join(f'"{c}" varchar' for c in CANONICAL_COLUMNS)
    con.execute(
        f"create table if not exists {RAW_TABLE} (_batch_id varchar not null, _source varchar not null, "
        f"_source_row bigint not null, _extracted_at timestamp not null, _file_name varchar, "
        f"_profile varchar, {cols}, _record varchar)")
    con.execute("begin transaction")
    try:
        arrow = lines.to_arrow()
        con.register("_file_src", arrow)
        col_list = ", ".join(CANONICAL_COLUMNS)
        con.execute(
            f"insert into {RAW_TABLE} (_batch_id, _source, _source_row, _extracted_at, _file_name, _profile, "
            f"{col_list}, _record) select ?, ?, _source_row, ?, ?, ?, {col_list}, _record from _file_src",
            [batch_id, source, started, path.name, chosen.name])
        con.unregister("_file_src")
        con.execute(
            """insert into audit.load_batches (batch_id, run_id, source, entity, source_kind, started_at,
               rows_read, status, step, file_name, file_sha256, profile, staging_table)
               values (?, ?, ?, ?, 'file', ?, ?, 'running', 'extracted', ?, ?, ?, 'stg_files__sales_lines')""",
            [batch_id, run_id, source, ENTITY, started, lines.height, path.name, sha, chosen.name])
        con.execute("delete from audit.file_registry where sha256 = ?", [sha])
        con.execute(
            """insert into audit.file_registry (sha256, file_name, file_path, profile, size_bytes, batch_id,
               status, registered_at) values (?, ?, ?, ?, ?, ?, 'running', ?)""",
            [sha, path.name, str(path), chosen.name, path.stat().st_size, batch_id, datetime.now()])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return BatchResult(batch_id, source, path.name, chosen.name, "running", rows_read=lines.height)


def place_in_landing(settings: Settings, path: Path, profile: str | None) -> Path:
    """The file's place in the landing folder (copied there when it comes from elsewhere)."""
    landing = Path(settings.landing_dir)
    landing.mkdir(parents=True, exist_ok=True)
    path = Path(path)
    if path.absolute().is_relative_to(landing.resolve()) or path.absolute().is_relative_to(landing.absolute()):
        if not inside(path, landing):
            raise RejectedBatchError(f"{path}: leads outside the landing folder {landing} (symlink or '..')")
        return path
    if not path.is_file():
        raise SourceError(f"no such file: {path}")
    target_dir = landing / profile if profile else landing
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    if target.exists() and sha256_of(target) != sha256_of(path):
        target = target_dir / f"{path.stem}.{datetime.now().strftime('%Y%m%dT%H%M%S%f')}{path.suffix}"
    if not target.exists():
        shutil.copy2(path, target)
    return target


def ingest_file(settings: Settings, path: Path | str, profile: str | None = None) -> BatchResult:
    """Register and load one file drop end to end (extract, stage, validate, load); see module doc."""
    from warehouse import pipeline

    return pipeline.ingest_file(settings, Path(path), profile)
