"""Publish the marts for BI tools and marketers: a read-only DuckDB file and Parquet, swapped in atomically.

Layout under ``settings.published_dir``::

    versions/<version>/marts.duckdb     one complete published version (tables in its ``main`` schema)
    versions/<version>/parquet/*.parquet the same tables as Parquet, one file per table
    versions/<version>/manifest.json     the version's manifest (also the ``publish_manifest`` table)
    current -> versions/<version>        the ONE symlink swapped (os.replace) to publish a version
    marts.duckdb -> current/marts.duckdb settings.published_path (never changes; resolves through current)
    parquet -> current/parquet           settings.parquet_dir (never changes; resolves through current)

A version is written aside (``versions/.building-<version>``), checked (PII guard), made durable and
renamed into place before ``current`` is swapped, so ``published/marts.duckdb`` always names one
complete version. Readers that already opened a version keep reading it (the file never changes and,
on POSIX, stays readable after it is pruned). The previous ``settings.publish.keep_versions`` versions
are kept; older ones are pruned.

Because the published file is named ``marts.duckdb``, DuckDB names its catalog ``marts``: the tables
live in the file's ``main`` schema, so ``select * from marts.cross_sell_rules`` works in a session
opened on the file (and ``select * from cross_sell_rules`` too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from warehouse.errors import CorruptFileError, CriticalValidationError, CrmwhError
from warehouse.settings import PublishSettings, Settings

log = logging.getLogger(__name__)

SOURCE_SCHEMA = "marts"
PUBLISHED_FILE_NAME = "marts.duckdb"
PARQUET_DIR_NAME = "parquet"
MANIFEST_FILE_NAME = "manifest.json"
VERSIONS_DIR_NAME = "versions"
CURRENT_LINK_NAME = "current"
BUILDING_PREFIX = ".building-"
DICTIONARY_TABLE = "data_dictionary"
MANIFEST_TABLE = "publish_manifest"
PUBLISH_OWNED_TABLES: tuple[str, ...] = (DICTIONARY_TABLE, MANIFEST_TABLE)
PUBLISHED_FILE_MODE = 0o444
# Parquet file-level key-value metadata: the DuckDB comments and the run, for Parquet-only readers.
PARQUET_TABLE_COMMENT_KEY = "crmwh.table_comment"
PARQUET_COLUMN_COMMENTS_KEY = "crmwh.column_comments"
PARQUET_RUN_ID_KEY = "crmwh.run_id"

# What a validation status means for publishing. Anything else is refused as unknown.
PUBLISHABLE_STATUSES: tuple[str, ...] = ("passed", "warning", "not_validated")
REFUSED_STATUSES: tuple[str, ...] = ("failed",)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

DICTIONARY_COMMENTS: dict[str, Any] = {
    "table": "grain: one row per published column; the data dictionary of this published version, "
             "built from the DuckDB comments of the marts",
    "columns": {
        "table_name": "published table (a Parquet file of the same name sits in the parquet folder)",
        "column_name": "column of that table",
        "ordinal": "position of the column in the table, from 1",
        "data_type": "DuckDB data type of the column",
        "description": "what the column holds (its DuckDB column comment)",
        "grain": "what one row of the table is (from the table comment 'grain: ...')",
        "table_description": "what the table is for (the rest of the table comment)",
    },
}
MANIFEST_COMMENTS: dict[str, Any] = {
    "table": "grain: one row per published table of this version; the publish manifest: which run "
             "published it, for which data interval, when, with what validation status and row counts",
    "columns": {
        "run_id": "pipeline run that published this version",
        "version": "published version name (folder under published/versions)",
        "data_interval_start": "start of the data interval the run covered (UTC; empty when not given)",
        "data_interval_end": "end of the data interval the run covered (UTC; empty when not given)",
        "published_at": "when this version was published (UTC)",
        "validation_status": "validation outcome of the run: passed, warning or not_validated",
        "table_name": "published table",
        "row_count": "rows in that table in this version",
        "column_count": "columns in that table in this version",
    },
}


class PublishError(CrmwhError):
    """Publishing could not complete; the previously published version stays in place."""


class PiiLeakError(PublishError):
    """A published column would hold personal data (names, e-mails, phones): publishing is refused."""


@dataclass(frozen=True)
class Manifest:
    """What one published version holds."""

    run_id: str
    version: str
    published_at: datetime
    validation_status: str
    row_counts: dict[str, int]
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    column_counts: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_json(self) -> str:
        def encode(value: Any) -> Any:
            return value.isoformat() if isinstance(value, datetime) else value

        payload = {k: encode(v) for k, v in dataclasses.asdict(self).items()}
        payload["warnings"] = list(self.warnings)
        return json.dumps(payload, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)

        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            run_id=raw["run_id"], version=raw["version"], published_at=when(raw["published_at"]),
            validation_status=raw["validation_status"], row_counts=dict(raw["row_counts"]),
            data_interval_start=when(raw.get("data_interval_start")),
            data_interval_end=when(raw.get("data_interval_end")),
            column_counts=dict(raw.get("column_counts", {})), warnings=tuple(raw.get("warnings", ())),
        )


# Paths ------------------------------------------------------------------------------------------

def versions_dir(settings: Settings) -> Path:
    assert settings.published_dir is not None
    return settings.published_dir / VERSIONS_DIR_NAME


def current_link(settings: Settings) -> Path:
    assert settings.published_dir is not None
    return settings.published_dir / CURRENT_LINK_NAME


def current_version_dir(settings: Settings) -> Path | None:
    """The folder of the version ``published/marts.duckdb`` names now (None before the first publish)."""
    link = current_link(settings)
    if not link.is_symlink():
        return None
    target = Path(os.path.realpath(link))
    return target if target.is_dir() else None


def resolved_published_path(settings: Settings) -> Path:
    """The current version's DuckDB file, resolved once: every read through it sees one version.

    Opening the resolved path (rather than the stable ``published/marts.duckdb``) also keeps DuckDB's
    in-process database cache from handing back a connection to a version already replaced.
    """
    path = settings.published_path
    if not path.exists():
        raise PublishError(f"nothing is published yet at {path}; run `crmwh publish` (or the pipeline) first")
    return Path(os.path.realpath(path))


def list_versions(settings: Settings) -> list[Path]:
    """Complete published versions, oldest first."""
    root = versions_dir(settings)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_manifest(settings: Settings) -> Manifest | None:
    """The manifest of the current version (None before the first publish)."""
    folder = current_version_dir(settings)
    if folder is None or not (folder / MANIFEST_FILE_NAME).is_file():
        return None
    return Manifest.from_json((folder / MANIFEST_FILE_NAME).read_text(encoding="utf-8"))


def open_published(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the current published version (for the CLI and the report); a
    damaged file raises CorruptFileError saying so and what to do."""
    from warehouse.db import connect

    return connect(resolved_published_path(settings), read_only=True, role="published")


# Helpers ----------------------------------------------------------------------------------------

def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _safe_token(run_id: str) -> str:
    token = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("._-")
    return token[:80] or "run"


def version_name(run_id: str, published_at: datetime) -> str:
    """Sortable, filesystem-safe version name: UTC time first, then the run id."""
    return f"{published_at:%Y%m%dT%H%M%S%fZ}-{_safe_token(run_id)}"


def split_table_comment(comment: str | None) -> tuple[str | None, str | None]:
    """``'grain: one row per x; what it is'`` -> (``'one row per x'``, ``'what it is'``)."""
    if not comment:
        return None, None
    text = comment.strip()
    match = re.match(r"(?is)grain\s*:\s*(.*?)(?:;\s*(.*))?$", text)
    if not match:
        return None, text
    grain = match.group(1).strip() or None
    rest = (match.group(2) or "").strip() or None
    return grain, rest


def _as_utc(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise PublishError(f"data interval bound {value!r} is not an ISO date-time") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _naive_utc(value: datetime | None) -> datetime | None:
    """UTC wall time without zone, as the TIMESTAMP columns of the manifest store it."""
    return None if value is None else _as_utc(value).replace(tzinfo=None)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (a new symlink renamed over the old name)."""
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _publish_lock(settings: Settings) -> Iterator[None]:
    """One publisher at a time (the pipeline also holds the warehouse lock; this guards direct calls)."""
    assert settings.published_dir is not None
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.published_dir / ".publish.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# Catalog of the marts to publish ---------------------------------------------------------------

@dataclass(frozen=True)
class MartColumn:
    name: str
    data_type: str
    comment: str | None


@dataclass(frozen=True)
class MartTable:
    name: str
    comment: str | None
    columns: tuple[MartColumn, ...]


def list_marts(con: duckdb.DuckDBPyConnection) -> list[MartTable]:
    """Tables and views of the working warehouse's ``marts`` schema, with their comments."""
    rows = con.execute(
        """
        select table_name, comment from duckdb_tables()
        where database_name = current_database() and schema_name = ? and not temporary
        union all
        select view_name, comment from duckdb_views()
        where database_name = current_database() and schema_name = ? and not internal and not temporary
        order by 1
        """,
        [SOURCE_SCHEMA, SOURCE_SCHEMA],
    ).fetchall()
    marts: list[MartTable] = []
    for name, comment in rows:
        if name in PUBLISH_OWNED_TABLES:
            continue  # rebuilt by every publish
        if not _IDENTIFIER.fullmatch(name):
            raise PublishError(f"mart table name {name!r} is not a plain identifier; rename it to publish it")
        cols = con.execute(
            """
            select column_name, data_type, comment from duckdb_columns()
            where database_name = current_database() and schema_name = ? and table_name = ?
            order by column_index
            """,
            [SOURCE_SCHEMA, name],
        ).fetchall()
        marts.append(MartTable(name, comment, tuple(MartColumn(*c) for c in cols)))
    return marts


# PII guard --------------------------------------------------------------------------------------

def pii_column_name_findings(tables: Sequence[MartTable], cfg: PublishSettings) -> list[str]:
    """Published columns whose NAME says they hold a person's name, e-mail or phone."""
    patterns = [re.compile(p, re.IGNORECASE) for p in cfg.pii_column_patterns]
    return [
        f"{t.name}.{c.name}: column name looks like personal data"
        for t in tables for c in t.columns
        if any(p.fullmatch(c.name) for p in patterns)
    ]


def _pii_reference_sql(con: duckdb.DuckDBPyConnection) -> str | None:
    """People's names, e-mails and phones from ``core`` of the working warehouse, when present."""
    present = {
        (t, c) for t, c in con.execute(
            """
            select table_name, column_name from duckdb_columns()
            where database_name = current_database() and schema_name = 'core'
              and table_name in ('dim_customer', 'dim_employee') and column_name in ('name', 'email', 'phone')
            """
        ).fetchall()
    }
    parts = [f"select cast({quote_ident(c)} as varchar) as ref from core.{quote_ident(t)}" for t, c in sorted(present)]  # noqa: S608 - identifiers quoted, values bound or literal-quoted
    return " union ".join(parts) if parts else None


def _pii_predicates(cfg: PublishSettings, value: str) -> dict[str, str]:
    """SQL predicates on one text value (e-mail inside, phone-shaped): the same rules staging masks with."""
    from warehouse.pii import pii_predicates

    return pii_predicates(cfg, value)


PII_REFERENCE_TABLE = "_crmwh_pii_reference"
PII_REFERENCE_FINDING = "equal a customer's or employee's name, e-mail or phone in core"


def pii_content_findings(con: duckdb.DuckDBPyConnection, tables: Sequence[MartTable],
                         cfg: PublishSettings) -> list[str]:
    """Text values of the marts that look like e-mails or phones, or equal a person's name/e-mail/phone.

    Scans every VARCHAR and VARCHAR[] column of the working warehouse's marts, one query per table.
    """
    reference = _pii_reference_sql(con)
    if reference is not None:
        con.execute(
            f"create or replace temp table {PII_REFERENCE_TABLE} as select distinct ref from ({reference}) "  # noqa: S608 - identifiers quoted, values bound or literal-quoted
            f"where ref is not null and length(ref) >= {int(cfg.pii_exact_match_min_length)}"
        )
    findings: list[str] = []
    try:
        for table in tables:
            checks: list[tuple[str, str, str]] = []  # (column, finding, count expression)
            for column in table.columns:
                col = quote_ident(column.name)
                if column.data_type == "VARCHAR":
                    for finding, predicate in _pii_predicates(cfg, col).items():
                        checks.append((column.name, f"value(s) {finding}", f"count(*) filter (where {predicate})"))
                    if reference is not None:
                        checks.append((column.name, f"value(s) {PII_REFERENCE_FINDING}",
                                       f"count(*) filter (where {col} in (select ref from {PII_REFERENCE_TABLE}))"))
                elif column.data_type == "VARCHAR[]":
                    list_checks = [(f"list value(s) {f}", f"count(*) filter (where {p})")
                                   for f, p in _pii_predicates(cfg, "v").items()]
                    if reference is not None:
                        list_checks.append((f"list value(s) {PII_REFERENCE_FINDING}",
                                            f"count(*) filter (where v in (select ref from {PII_REFERENCE_TABLE}))"))
                    counts = con.execute(
                        f"select {', '.join(e for _, e in list_checks)} from (select unnest({col}) as v "  # noqa: S608 - identifiers quoted, values bound or literal-quoted
                        f"from {SOURCE_SCHEMA}.{quote_ident(table.name)})"
                    ).fetchone()
                    findings.extend(f"{table.name}.{column.name}: {n} {finding}"
                                    for (finding, _), n in zip(list_checks, counts, strict=True) if n)
            if not checks:
                continue
            counts = con.execute(
                f"select {', '.join(expr for _, _, expr in checks)} "  # noqa: S608 - identifiers quoted, values bound or literal-quoted
                f"from {SOURCE_SCHEMA}.{quote_ident(table.name)}"
            ).fetchone()
            findings.extend(f"{table.name}.{column}: {n} {finding}"
                            for (column, finding, _), n in zip(checks, counts, strict=True) if n)
    finally:
        if reference is not None:
            con.execute(f"drop table if exists {PII_REFERENCE_TABLE}")
    return findings


def check_pii(con: duckdb.DuckDBPyConnection, tables: Sequence[MartTable], cfg: PublishSettings) -> None:
    """Raise PiiLeakError naming every offending column (never the values themselves)."""
    findings = pii_column_name_findings(tables, cfg) + pii_content_findings(con, tables, cfg)
    if findings:
        raise PiiLeakError(
            "publish refused, personal data in the marts (names, e-mails and phones stay in core; marts "
            "carry the customer business id): " + "; ".join(findings)
        )


# Building one version ---------------------------------------------------------------------------

def _comment_statements(catalog: str, table: str, comment: str | None,
                        column_comments: dict[str, str | None]) -> list[str]:
    target = f"{quote_ident(catalog)}.main.{quote_ident(table)}"
    statements = []
    if comment:
        statements.append(f"comment on table {target} is {quote_literal(comment)}")
    for column, text in column_comments.items():
        if text:
            statements.append(f"comment on column {target}.{quote_ident(column)} is {quote_literal(text)}")
    return statements


def _dictionary_rows(tables: Sequence[MartTable]) -> list[tuple[Any, ...]]:
    rows = []
    for table in tables:
        grain, description = split_table_comment(table.comment)
        for ordinal, column in enumerate(table.columns, start=1):
            rows.append((table.name, column.name, ordinal, column.data_type, column.comment, grain, description))
    return rows


def _owned_table(name: str, comments: dict[str, Any], columns: Sequence[tuple[str, str]]) -> MartTable:
    return MartTable(name, comments["table"],
                     tuple(MartColumn(c, stable_type(t), comments["columns"][c]) for c, t in columns))


# Published types are stable across versions whatever the data (BI extracts and Parquet datasets that
# span versions need one Arrow type per column): every integer is BIGINT (int64), every float DOUBLE,
# every decimal DECIMAL(38, its scale), every timestamp without zone TIMESTAMP (microseconds); lists
# follow their element type. Everything else is published as the mart has it.
STABLE_INTEGER = "BIGINT"
_INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                            "UINTEGER", "UBIGINT", "UHUGEINT"})
_FLOAT_TYPES = frozenset({"FLOAT", "REAL", "DOUBLE"})
_TIMESTAMP_TYPES = frozenset({"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME"})
_DECIMAL_TYPE = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def stable_type(data_type: str) -> str:
    """The type a column of DuckDB type ``data_type`` is published as (see above)."""
    t = data_type.strip().upper()
    if t.endswith("[]"):
        return stable_type(t[:-2]) + "[]"
    if t in _INTEGER_TYPES:
        return STABLE_INTEGER
    if t in _FLOAT_TYPES:
        return "DOUBLE"
    if t in _TIMESTAMP_TYPES:
        return "TIMESTAMP"
    match = _DECIMAL_TYPE.fullmatch(t)
    if match:
        return f"DECIMAL(38,{match.group(2)})"
    return data_type


def _stable_select(mart: MartTable) -> str:
    """The SELECT list that publishes a mart's columns with their stable types."""
    parts = []
    for column in mart.columns:
        target = stable_type(column.data_type)
        name = quote_ident(column.name)
        parts.append(name if target == column.data_type else f"cast({name} as {target}) as {name}")
    return ", ".join(parts) or "*"


def with_stable_types(mart: MartTable) -> MartTable:
    return dataclasses.replace(mart, columns=tuple(dataclasses.replace(c, data_type=stable_type(c.data_type))
                                                   for c in mart.columns))


DICTIONARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("table_name", "VARCHAR"), ("column_name", "VARCHAR"), ("ordinal", "INTEGER"), ("data_type", "VARCHAR"),
    ("description", "VARCHAR"), ("grain", "VARCHAR"), ("table_description", "VARCHAR"),
)
MANIFEST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR"), ("version", "VARCHAR"), ("data_interval_start", "TIMESTAMP"),
    ("data_interval_end", "TIMESTAMP"), ("published_at", "TIMESTAMP"), ("validation_status", "VARCHAR"),
    ("table_name", "VARCHAR"), ("row_count", "BIGINT"), ("column_count", "INTEGER"),
)


def _create_owned(con: duckdb.DuckDBPyConnection, catalog: str, table: MartTable,
                  rows: Sequence[tuple[Any, ...]]) -> None:
    target = f"{quote_ident(catalog)}.main.{quote_ident(table.name)}"
    cols = ", ".join(f"{quote_ident(c.name)} {c.data_type}" for c in table.columns)
    con.execute(f"create table {target} ({cols})")
    if rows:
        import pyarrow as pa

        frame = pa.table({c.name: [r[i] for r in rows] for i, c in enumerate(table.columns)})
        view = f"_crmwh_rows_{uuid.uuid4().hex[:12]}"
        con.register(view, frame)
        try:
            con.execute(f"insert into {target} select * from {quote_ident(view)}")  # noqa: S608 - identifiers quoted, values bound or literal-quoted
        finally:
            con.unregister(view)
    for statement in _comment_statements(catalog, table.name, table.comment,
                                         {c.name: c.comment for c in table.columns}):
        con.execute(statement)


def _undocumented(tables: Sequence[MartTable]) -> list[str]:
    warnings = []
    for table in tables:
        grain, _ = split_table_comment(table.comment)
        if grain is None:
            warnings.append(f"{table.name}: table comment has no 'grain: ...'")
        missing = [c.name for c in table.columns if not c.comment]
        if missing:
            warnings.append(f"{table.name}: no description for column(s) {', '.join(missing)}")
    return warnings


def _check_validation_status(status: str, run_id: str, settings: Settings) -> None:
    if status in REFUSED_STATUSES:
        current = read_manifest(settings)
        kept = f"version {current.version} (run {current.run_id}) stays published" if current else "nothing is published"
        raise CriticalValidationError(
            f"publish refused for run {run_id}: validation status is {status!r}; {kept}"
        )
    if status not in PUBLISHABLE_STATUSES:
        raise PublishError(
            f"unknown validation status {status!r} for run {run_id}; expected one of "
            f"{', '.join(PUBLISHABLE_STATUSES + REFUSED_STATUSES)}"
        )


def publish(settings: Settings, run_id: str,
            data_interval: tuple[datetime | None, datetime | None] | None = None,
            validation_status: str = "not_validated", *,
            con: duckdb.DuckDBPyConnection | None = None) -> Manifest:
    """Publish every ``marts.*`` table of the working warehouse as a new read-only version.

    ``con`` is an open read-write connection to the working warehouse (the caller holds the writer
    lock); without it the warehouse is opened through ``warehouse_writer``. A ``failed`` validation
    status is refused (CriticalValidationError) and so is personal data (PiiLeakError); in both cases
    the published version stays as it was.
    """
    _check_validation_status(validation_status, run_id, settings)
    if con is None:
        from warehouse.db import warehouse_writer

        with warehouse_writer(settings) as own:
            return publish(settings, run_id, data_interval, validation_status, con=own)

    start, end = data_interval if data_interval is not None else (None, None)
    start, end = _as_utc(start), _as_utc(end)
    with _publish_lock(settings):
        published_at = datetime.now(UTC)
        version = version_name(run_id, published_at)
        root = versions_dir(settings)
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_builds(root)
        building = root / f"{BUILDING_PREFIX}{version}"
        building.mkdir()
        try:
            manifest = _build_version(con, settings, building, run_id, version, published_at,
                                      start, end, validation_status)
            final = root / version
            os.rename(building, final)
            _fsync_path(root)
        except OSError as exc:  # disk full, permissions: one clear line, the published version stays
            shutil.rmtree(building, ignore_errors=True)
            raise PublishError(f"could not write version {version} under {root}: {exc}; the published "
                               "version stays as it was") from exc
        except duckdb.Error as exc:  # the same, from DuckDB's own file writes (the new file or its WAL)
            shutil.rmtree(building, ignore_errors=True)
            from warehouse.db import duckdb_failure
            from warehouse.errors import StorageError, original_error

            failure = duckdb_failure(original_error(exc), building / PUBLISHED_FILE_NAME, "new")
            if isinstance(failure, StorageError):
                raise PublishError(f"could not write version {version}: {failure}; the published version "
                                   "stays as it was") from exc
            raise
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        try:
            _swap_current(settings, version)
        except OSError as exc:
            raise PublishError(f"could not swap in version {version} at {settings.published_dir}: {exc}") from exc
        pruned = prune_versions(settings)
        log.info("published %s (run %s): %s; pruned %d old version(s)", version, run_id,
                 ", ".join(f"{t}={n}" for t, n in manifest.row_counts.items()), len(pruned))
        return manifest


def _build_version(con: duckdb.DuckDBPyConnection, settings: Settings, building: Path, run_id: str,
                   version: str, published_at: datetime, start: datetime | None, end: datetime | None,
                   validation_status: str) -> Manifest:
    marts = list_marts(con)
    check_pii(con, marts, settings.publish)  # before anything is written
    db_path = building / PUBLISHED_FILE_NAME
    parquet_dir = building / PARQUET_DIR_NAME
    parquet_dir.mkdir()
    catalog = f"crmwh_publish_{uuid.uuid4().hex[:12]}"
    con.execute(f"attach {quote_literal(str(db_path))} as {quote_ident(catalog)}")
    try:
        # one transaction: every table, comment and row of the version is written with one commit
        con.execute("begin transaction")
        try:
            for mart in marts:
                con.execute(
                    f"create table {quote_ident(catalog)}.main.{quote_ident(mart.name)} as "  # noqa: S608 - identifiers quoted, values bound or literal-quoted
                    f"select {_stable_select(mart)} from {SOURCE_SCHEMA}.{quote_ident(mart.name)}"
                )
                for statement in _comment_statements(catalog, mart.name, mart.comment,
                                                     {c.name: c.comment for c in mart.columns}):
                    con.execute(statement)

            dictionary = _owned_table(DICTIONARY_TABLE, DICTIONARY_COMMENTS, DICTIONARY_COLUMNS)
            manifest_table = _owned_table(MANIFEST_TABLE, MANIFEST_COMMENTS, MANIFEST_COLUMNS)
            marts = [with_stable_types(m) for m in marts]  # as published: the dictionary shows these types
            all_tables = [*marts, dictionary, manifest_table]
            _create_owned(con, catalog, dictionary, _dictionary_rows(all_tables))

            row_counts: dict[str, int] = {}
            for table in [*marts, dictionary]:
                (n,) = con.execute(f"select count(*) from {quote_ident(catalog)}.main.{quote_ident(table.name)}").fetchone()  # noqa: S608 - identifiers quoted, values bound or literal-quoted
                row_counts[table.name] = int(n)
            row_counts[MANIFEST_TABLE] = len(all_tables)
            column_counts = {t.name: len(t.columns) for t in all_tables}
            interval = [_naive_utc(start), _naive_utc(end), _naive_utc(published_at)]
            _create_owned(con, catalog, manifest_table, [
                (run_id, version, *interval, validation_status, t.name, row_counts[t.name], column_counts[t.name])
                for t in all_tables
            ])
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise

        for table in all_tables:
            target = parquet_dir / f"{table.name}.parquet"
            # the comments travel with the Parquet file too (file key-value metadata, JSON for columns)
            metadata = {
                PARQUET_TABLE_COMMENT_KEY: table.comment or "",
                PARQUET_COLUMN_COMMENTS_KEY: json.dumps({c.name: c.comment for c in table.columns if c.comment}),
                PARQUET_RUN_ID_KEY: run_id,
            }
            kv = ", ".join(f"{quote_literal(k)}: {quote_literal(v)}" for k, v in metadata.items())
            con.execute(
                f"copy {quote_ident(catalog)}.main.{quote_ident(table.name)} to {quote_literal(str(target))} "
                f"(format parquet, compression zstd, kv_metadata {{{kv}}})"
            )
        con.execute(f"checkpoint {quote_ident(catalog)}")
    except BaseException:
        # the first failure (a full disk, say) is the one to report: DuckDB's detach then fails on the same
        # checkpoint and would hide it
        with contextlib.suppress(duckdb.Error):
            con.execute(f"detach {quote_ident(catalog)}")
        raise
    con.execute(f"detach {quote_ident(catalog)}")

    wal = db_path.with_name(db_path.name + ".wal")
    if wal.exists():  # a checkpointed, detached file has none; never publish a file that needs its WAL
        raise PublishError(f"{wal} left behind after checkpoint; the version is not self-contained")
    manifest = Manifest(
        run_id=run_id, version=version, published_at=published_at, validation_status=validation_status,
        row_counts=row_counts, data_interval_start=start, data_interval_end=end,
        column_counts=column_counts, warnings=tuple(_undocumented(marts)),
    )
    (building / MANIFEST_FILE_NAME).write_text(manifest.to_json(), encoding="utf-8")
    for path in [db_path, building / MANIFEST_FILE_NAME, *parquet_dir.iterdir()]:
        os.chmod(path, PUBLISHED_FILE_MODE)  # a published version never changes: read-only on disk too
        _fsync_path(path)
    _fsync_path(parquet_dir)
    _fsync_path(building)
    for warning in manifest.warnings:
        log.warning("undocumented mart: %s", warning)
    return manifest


def _remove_stale_builds(root: Path) -> None:
    """Leftovers of a publish killed half-way (we hold the publish lock: none is in progress): version
    folders being built and temporary symlinks of an interrupted swap."""
    for path in root.iterdir():
        if path.name.startswith(BUILDING_PREFIX):
            shutil.rmtree(path, ignore_errors=True)
    for path in root.parent.glob(".*.tmp-*"):
        if path.is_symlink():
            path.unlink(missing_ok=True)


def _swap_current(settings: Settings, version: str) -> None:
    """The atomic step: ``current`` now names the new version; the stable names resolve through it."""
    assert settings.published_dir is not None
    published = settings.published_dir
    _replace_symlink(current_link(settings), f"{VERSIONS_DIR_NAME}/{version}")
    stable = {
        settings.published_path: f"{CURRENT_LINK_NAME}/{PUBLISHED_FILE_NAME}",
        settings.parquet_dir: f"{CURRENT_LINK_NAME}/{PARQUET_DIR_NAME}",
    }
    for link, target in stable.items():
        if link.is_symlink() and os.readlink(link) == target:
            continue
        if link.is_dir() and not link.is_symlink():  # a folder from before versioned publishing
            os.rename(link, versions_dir(settings) / f".legacy-{link.name}-{uuid.uuid4().hex[:8]}")
        _replace_symlink(link, target)
    _fsync_path(published)


def prune_versions(settings: Settings) -> list[Path]:
    """Delete versions older than the current one and the ``keep_versions`` before it."""
    keep = max(0, int(settings.publish.keep_versions))
    current = current_version_dir(settings)
    versions = [p for p in list_versions(settings) if current is None or p.resolve() != current]
    doomed = versions[: max(0, len(versions) - keep)]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    for legacy in versions_dir(settings).glob(".legacy-*"):
        if legacy.is_dir():
            shutil.rmtree(legacy, ignore_errors=True)
        else:
            legacy.unlink(missing_ok=True)
    return doomed


def validation_status_from_audit(con: duckdb.DuckDBPyConnection) -> str:
    """The validation status of the warehouse as it stands: the latest result of every rule per table.

    ``failed`` when a critical rule's latest check failed, ``warning`` when any other latest check
    failed, ``passed`` when all passed, ``not_validated`` when nothing was ever checked.
    """
    (exists,) = con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = 'audit' and table_name = 'validation_results'"
    ).fetchone()
    if not exists:
        return "not_validated"
    from warehouse.validation_status import status_sql

    (status,) = con.execute(
        f"""
        with latest as (
            select severity, success,
                   row_number() over (partition by table_name, rule order by checked_at desc) as rn
            from audit.validation_results
        )
        select {status_sql()} from latest where rn = 1
        """  # noqa: S608 - a constant expression
    ).fetchone()
    return str(status)


def verify_published(settings: Settings) -> Manifest:
    """Check that the current published version is complete: every table of its manifest, in the DuckDB
    file and in Parquet, has the manifest's row count. Returns the manifest; raises PublishError if not.

    Resolves the version once, so a publish running meanwhile cannot mix two versions into the check.
    """
    folder = current_version_dir(settings)
    if folder is None:
        raise PublishError(f"nothing is published yet under {settings.published_dir}")
    manifest_path = folder / MANIFEST_FILE_NAME
    if not manifest_path.is_file():
        raise PublishError(f"published version {folder.name} has no {MANIFEST_FILE_NAME}")
    from warehouse.db import CORRUPT_MARKERS, connect, duckdb_failure

    try:
        manifest = Manifest.from_json(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptFileError(f"the manifest {manifest_path} of published version {folder.name} is corrupt "
                               f"({type(exc).__name__}: {exc}); run `crmwh publish` to publish a new version") from exc
    problems: list[str] = []
    corrupt: list[str] = []
    con = connect(folder / PUBLISHED_FILE_NAME, read_only=True, role="published")
    try:
        rows = con.execute(f"select distinct run_id, table_name, row_count from {MANIFEST_TABLE}").fetchall()  # noqa: S608 - constant name
        if {r[0] for r in rows} != {manifest.run_id}:
            problems.append(f"{MANIFEST_TABLE} names runs {sorted({r[0] for r in rows})}, manifest.json {manifest.run_id}")
        if {r[1]: r[2] for r in rows} != manifest.row_counts:
            problems.append(f"{MANIFEST_TABLE} row counts differ from manifest.json")
        for table, expected in manifest.row_counts.items():
            (actual,) = con.execute(f"select count(*) from {quote_ident(table)}").fetchone()  # noqa: S608 - identifiers quoted, values bound or literal-quoted
            if actual != expected:
                problems.append(f"{table}: {actual} rows in DuckDB, manifest says {expected}")
            parquet = folder / PARQUET_DIR_NAME / f"{table}.parquet"
            if not parquet.is_file():
                problems.append(f"{table}: no Parquet file")
                continue
            try:
                (n_parquet,) = con.execute(
                    f"select count(*) from read_parquet({quote_literal(str(parquet))})").fetchone()  # noqa: S608 - identifiers quoted, values bound or literal-quoted
            except duckdb.Error as exc:
                if not any(m in str(exc).lower() for m in CORRUPT_MARKERS):
                    raise
                corrupt.append(f"{parquet.name} ({str(exc).splitlines()[0]})")
                continue
            if n_parquet != expected:
                problems.append(f"{table}: {n_parquet} rows in Parquet, manifest says {expected}")
    except duckdb.Error as exc:
        if any(m in str(exc).lower() for m in CORRUPT_MARKERS):
            raise duckdb_failure(exc, folder / PUBLISHED_FILE_NAME, "published") from exc
        problems.append(f"cannot read the published file: {str(exc).splitlines()[0]}")
    finally:
        con.close()
    if corrupt:
        raise CorruptFileError(
            f"published version {folder.name} has corrupt Parquet file(s): {'; '.join(corrupt)}; run `crmwh "
            "publish` to publish the marts again from the working warehouse")
    if problems:
        raise PublishError(f"published version {folder.name} is not complete: " + "; ".join(problems))
    return manifest
