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

One job per module: ``versions`` (the version folders, the ``current`` link and the swap, the lock,
pruning), ``pii_guard`` (no personal data published), ``dictionary`` (the marts' catalog and comments,
stable types, the ``data_dictionary`` and the other tables publishing owns), ``manifest`` (what a version
holds; reading and verifying it), ``publisher`` (the ``publish`` entry point). This package re-exports
their public names: ``from warehouse.serve.publish import publish``.
"""

from warehouse.serve.publish.dictionary import (
    DICTIONARY_TABLE,
    PUBLISH_OWNED_TABLES,
    SOURCE_SCHEMA,
    STABLE_INTEGER,
    MartColumn,
    MartTable,
    list_marts,
    split_table_comment,
    stable_type,
    with_stable_types,
)
from warehouse.serve.publish.errors import PiiLeakError, PublishError
from warehouse.serve.publish.manifest import (
    MANIFEST_FILE_NAME,
    MANIFEST_TABLE,
    Manifest,
    read_manifest,
    verify_published,
)
from warehouse.serve.publish.pii_guard import check_pii, pii_column_name_findings, pii_content_findings
from warehouse.serve.publish.publisher import (
    PUBLISHABLE_STATUSES,
    REFUSED_STATUSES,
    publish,
)
from warehouse.serve.publish.versions import (
    CURRENT_LINK_NAME,
    PARQUET_DIR_NAME,
    PUBLISHED_FILE_NAME,
    VERSIONS_DIR_NAME,
    current_link,
    current_version_dir,
    list_versions,
    open_published,
    prune_versions,
    resolved_published_path,
    version_name,
    versions_dir,
)

__all__ = [
    "CURRENT_LINK_NAME", "DICTIONARY_TABLE", "MANIFEST_FILE_NAME", "MANIFEST_TABLE", "PARQUET_DIR_NAME",
    "PUBLISHABLE_STATUSES", "PUBLISHED_FILE_NAME", "PUBLISH_OWNED_TABLES", "REFUSED_STATUSES", "SOURCE_SCHEMA",
    "STABLE_INTEGER", "VERSIONS_DIR_NAME", "Manifest", "MartColumn", "MartTable", "PiiLeakError", "PublishError",
    "check_pii", "current_link", "current_version_dir", "list_marts", "list_versions", "open_published",
    "pii_column_name_findings", "pii_content_findings", "prune_versions", "publish", "read_manifest",
    "resolved_published_path", "split_table_comment", "stable_type",
    "verify_published", "version_name", "versions_dir", "with_stable_types",
]
