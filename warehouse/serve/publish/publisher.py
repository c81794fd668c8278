"""The publish entry point: ``publish`` checks the run's validation status, builds a new version aside
(the marts with their stable types and comments, the data dictionary, the manifest, Parquet copies), runs
the PII guard before anything is written, makes the version durable and swaps it in
(``warehouse.serve.publish.versions``); the status it records comes from
``warehouse.quality.validation_status.validation_status_from_audit``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from warehouse.foundation.errors import CriticalValidationError
from warehouse.foundation.settings import Settings
from warehouse.foundation.sqltext import quote_ident, quote_literal
from warehouse.serve.publish.dictionary import (
    DICTIONARY_COLUMNS,
    DICTIONARY_COMMENTS,
    DICTIONARY_TABLE,
    SOURCE_SCHEMA,
    comment_statements,
    create_owned,
    dictionary_rows,
    list_marts,
    owned_table,
    stable_select,
    undocumented,
    with_stable_types,
)
from warehouse.serve.publish.errors import PublishError
from warehouse.serve.publish.manifest import (
    MANIFEST_COLUMNS,
    MANIFEST_COMMENTS,
    MANIFEST_FILE_NAME,
    MANIFEST_TABLE,
    Manifest,
    read_manifest,
)
from warehouse.serve.publish.pii_guard import check_pii
from warehouse.serve.publish.versions import (
    BUILDING_PREFIX,
    PARQUET_DIR_NAME,
    PUBLISHED_FILE_MODE,
    PUBLISHED_FILE_NAME,
    fsync_path,
    prune_versions,
    publish_lock,
    remove_stale_builds,
    swap_current,
    version_name,
    versions_dir,
)

log = logging.getLogger(__name__)

# Parquet file-level key-value metadata: the DuckDB comments and the run, for Parquet-only readers.
PARQUET_TABLE_COMMENT_KEY = "crmwh.table_comment"
PARQUET_COLUMN_COMMENTS_KEY = "crmwh.column_comments"
PARQUET_RUN_ID_KEY = "crmwh.run_id"

# What a validation status means for publishing. Anything else is refused as unknown.
PUBLISHABLE_STATUSES: tuple[str, ...] = ("passed", "warning", "not_validated")
REFUSED_STATUSES: tuple[str, ...] = ("failed",)


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
        from warehouse.foundation.db import warehouse_writer

        with warehouse_writer(settings) as own:
            return publish(settings, run_id, data_interval, validation_status, con=own)

    start, end = data_interval if data_interval is not None else (None, None)
    start, end = _as_utc(start), _as_utc(end)
    with publish_lock(settings):
        published_at = datetime.now(UTC)
        version = version_name(run_id, published_at)
        root = versions_dir(settings)
        root.mkdir(parents=True, exist_ok=True)
        remove_stale_builds(root)
        building = root / f"{BUILDING_PREFIX}{version}"
        building.mkdir()
        try:
            manifest = _build_version(con, settings, building, run_id, version, published_at,
                                      start, end, validation_status)
            final = root / version
            os.rename(building, final)
            fsync_path(root)
        except OSError as exc:  # disk full, permissions: one clear line, the published version stays
            shutil.rmtree(building, ignore_errors=True)
            raise PublishError(f"could not write version {version} under {root}: {exc}; the published "
                               "version stays as it was") from exc
        except duckdb.Error as exc:  # the same, from DuckDB's own file writes (the new file or its WAL)
            shutil.rmtree(building, ignore_errors=True)
            from warehouse.foundation.db import duckdb_failure
            from warehouse.foundation.errors import StorageError, original_error

            failure = duckdb_failure(original_error(exc), building / PUBLISHED_FILE_NAME, "new")
            if isinstance(failure, StorageError):
                raise PublishError(f"could not write version {version}: {failure}; the published version "
                                   "stays as it was") from exc
            raise
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        try:
            swap_current(settings, version)
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
                    f"select {stable_select(mart)} from {SOURCE_SCHEMA}.{quote_ident(mart.name)}"
                )
                for statement in comment_statements(catalog, mart.name, mart.comment,
                                                     {c.name: c.comment for c in mart.columns}):
                    con.execute(statement)

            dictionary = owned_table(DICTIONARY_TABLE, DICTIONARY_COMMENTS, DICTIONARY_COLUMNS)
            manifest_table = owned_table(MANIFEST_TABLE, MANIFEST_COMMENTS, MANIFEST_COLUMNS)
            marts = [with_stable_types(m) for m in marts]  # as published: the dictionary shows these types
            all_tables = [*marts, dictionary, manifest_table]
            create_owned(con, catalog, dictionary, dictionary_rows(all_tables))

            row_counts: dict[str, int] = {}
            for table in [*marts, dictionary]:
                (n,) = con.execute(f"select count(*) from {quote_ident(catalog)}.main.{quote_ident(table.name)}").fetchone()  # noqa: S608 - identifiers quoted, values bound or literal-quoted
                row_counts[table.name] = int(n)
            row_counts[MANIFEST_TABLE] = len(all_tables)
            column_counts = {t.name: len(t.columns) for t in all_tables}
            interval = [_naive_utc(start), _naive_utc(end), _naive_utc(published_at)]
            create_owned(con, catalog, manifest_table, [
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
        column_counts=column_counts, warnings=tuple(undocumented(marts)),
    )
    (building / MANIFEST_FILE_NAME).write_text(manifest.to_json(), encoding="utf-8")
    for path in [db_path, building / MANIFEST_FILE_NAME, *parquet_dir.iterdir()]:
        os.chmod(path, PUBLISHED_FILE_MODE)  # a published version never changes: read-only on disk too
        fsync_path(path)
    fsync_path(parquet_dir)
    fsync_path(building)
    for warning in manifest.warnings:
        log.warning("undocumented mart: %s", warning)
    return manifest
