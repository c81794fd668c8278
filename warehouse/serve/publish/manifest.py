"""The manifest of a published version: what it holds (``manifest.json`` and the ``publish_manifest``
table of the published file), reading the current one and verifying a version against it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from warehouse.foundation.errors import CorruptFileError
from warehouse.foundation.settings import Settings
from warehouse.foundation.sqltext import quote_ident, quote_literal
from warehouse.serve.publish.errors import PublishError
from warehouse.serve.publish.versions import PARQUET_DIR_NAME, PUBLISHED_FILE_NAME, current_version_dir

MANIFEST_FILE_NAME = "manifest.json"
MANIFEST_TABLE = "publish_manifest"
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
MANIFEST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR"), ("version", "VARCHAR"), ("data_interval_start", "TIMESTAMP"),
    ("data_interval_end", "TIMESTAMP"), ("published_at", "TIMESTAMP"), ("validation_status", "VARCHAR"),
    ("table_name", "VARCHAR"), ("row_count", "BIGINT"), ("column_count", "INTEGER"),
)


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


def read_manifest(settings: Settings) -> Manifest | None:
    """The manifest of the current version (None before the first publish)."""
    folder = current_version_dir(settings)
    if folder is None or not (folder / MANIFEST_FILE_NAME).is_file():
        return None
    return Manifest.from_json((folder / MANIFEST_FILE_NAME).read_text(encoding="utf-8"))


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
    from warehouse.foundation.db import CORRUPT_MARKERS, connect, duckdb_failure

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
