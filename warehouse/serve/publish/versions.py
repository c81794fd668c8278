"""The version swap: where versions live, the ``current`` link and the stable names through it, the
publish lock, stale builds of a killed publish, and pruning old versions.

A version is written aside (``versions/.building-<version>``), renamed into place, and only then is
``current`` replaced (one ``os.replace`` of a symlink), so ``published/marts.duckdb`` always names one
complete version.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from warehouse.foundation.settings import Settings
from warehouse.serve.publish.errors import PublishError

if TYPE_CHECKING:
    import duckdb

PUBLISHED_FILE_NAME = "marts.duckdb"
PARQUET_DIR_NAME = "parquet"
VERSIONS_DIR_NAME = "versions"
CURRENT_LINK_NAME = "current"
BUILDING_PREFIX = ".building-"
PUBLISHED_FILE_MODE = 0o444


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


def open_published(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the current published version (for the CLI and the report); a
    damaged file raises CorruptFileError saying so and what to do."""
    from warehouse.foundation.db import connect

    return connect(resolved_published_path(settings), read_only=True, role="published")


def _safe_token(run_id: str) -> str:
    token = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("._-")
    return token[:80] or "run"


def version_name(run_id: str, published_at: datetime) -> str:
    """Sortable, filesystem-safe version name: UTC time first, then the run id."""
    return f"{published_at:%Y%m%dT%H%M%S%fZ}-{_safe_token(run_id)}"


def fsync_path(path: Path) -> None:
    """Make a file's or folder's content (a folder: its entries) durable."""
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
def publish_lock(settings: Settings) -> Iterator[None]:
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


def remove_stale_builds(root: Path) -> None:
    """Leftovers of a publish killed half-way (we hold the publish lock: none is in progress): version
    folders being built and temporary symlinks of an interrupted swap."""
    for path in root.iterdir():
        if path.name.startswith(BUILDING_PREFIX):
            shutil.rmtree(path, ignore_errors=True)
    for path in root.parent.glob(".*.tmp-*"):
        if path.is_symlink():
            path.unlink(missing_ok=True)


def swap_current(settings: Settings, version: str) -> None:
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
    fsync_path(published)


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
