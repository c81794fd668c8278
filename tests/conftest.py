"""Shared fixtures: an isolated data directory and settings for every test that asks for them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Airflow reads its home when first imported: keep the suite's in-process imports away from the
# user's ~/airflow. Airflow commands the project starts get their home from the settings instead.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="crmwh-test-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from warehouse.foundation.settings import Settings, get_settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
PG_URL = os.environ.get("CRMWH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data directory; CRMWH_DATA_DIR points at it for the test's duration."""
    directory = tmp_path / "data"
    directory.mkdir()
    for key in list(os.environ):
        if key.startswith("CRMWH_") and key != "CRMWH_TEST_PG_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("CRMWH_DATA_DIR", str(directory))
    get_settings.cache_clear()
    yield directory
    get_settings.cache_clear()


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return load_settings()


@pytest.fixture
def pipeline_settings(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for pipeline runs: directories made, Data Docs rendering off (tested on its own)."""
    monkeypatch.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    settings = load_settings()
    settings.ensure_dirs()
    return settings


def _postgres_reachable(url: str) -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable" here
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of a real PostgreSQL server; skips with a clear reason when there is none."""
    reason = _postgres_reachable(PG_URL)
    if reason is not None:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} ({reason}); set CRMWH_TEST_PG_URL to run this test")
    return PG_URL


@pytest.fixture
def pg_schema_url(pg_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    import uuid

    import sqlalchemy as sa

    name = f"crmwh_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    url = pg_url.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = :n"), {"n": name})
        conn.execute(sa.text(f'drop database if exists "{name}"'))
    admin.dispose()
