"""The demo generator and ``advance`` against a real PostgreSQL server (same data as SQLite)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from warehouse.demo.advance import advance
from warehouse.demo.checksum import table_checksums
from warehouse.demo.config import DemoError
from warehouse.demo.generator import GenerateOptions, generate
from warehouse.demo.state import read_state
from warehouse.ingest import source_contract as schema

pytestmark = pytest.mark.postgres

OPTS = GenerateOptions(scale="small", seed=17, profile="retail")


def test_generator_writes_the_same_database_to_postgresql_as_to_sqlite(pg_schema_url: str, tmp_path: Path) -> None:
    result = generate(pg_schema_url, tmp_path / "pg_truth.json", OPTS)
    assert result.counts["customers"] == 2_000
    sqlite_url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    generate(sqlite_url, tmp_path / "sqlite_truth.json", OPTS)
    assert table_checksums(pg_schema_url) == table_checksums(sqlite_url)
    engine = sa.create_engine(pg_schema_url)
    with engine.connect() as conn:
        kinds = dict(conn.execute(sa.text(
            "select column_name, data_type from information_schema.columns "
            "where table_name = 'order_lines'")).all())
        # sequences were moved past the loaded ids: a plain insert gets a fresh id
        new_id = conn.execute(schema.employees.insert().values(
            employee_code="E9999", name="New Hire", role="sales_rep", created_at=dt.datetime(2026, 1, 1),
            updated_at=dt.datetime(2026, 1, 1), is_deleted=False).returning(schema.employees.c.employee_id)).scalar()
        conn.rollback()
    engine.dispose()
    assert kinds["unit_price"] == "numeric" and kinds["created_at"].startswith("timestamp")
    assert new_id == result.counts["employees"] + 1
    with pytest.raises(DemoError, match="--force"):
        generate(pg_schema_url, None, OPTS)
    generate(pg_schema_url, None, GenerateOptions(scale="small", seed=18), force=True)
    assert table_checksums(pg_schema_url, ("orders",)) != table_checksums(sqlite_url, ("orders",))


def test_advance_on_postgresql_updates_with_later_updated_at(pg_schema_url: str, tmp_path: Path) -> None:
    truth = tmp_path / "truth.json"
    generate(pg_schema_url, truth, OPTS)
    engine = sa.create_engine(pg_schema_url)
    old_clock = read_state(engine).business_clock
    with engine.connect() as conn:
        before = {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar() for t in schema.SOURCE_TABLES}  # noqa: S608
    result = advance(pg_schema_url, truth, 10)
    with engine.connect() as conn:
        for name in schema.SOURCE_TABLES:
            total, fresh, stale_changed = conn.execute(sa.text(
                f"select count(*), count(*) filter (where updated_at > :c), "  # noqa: S608
                f"count(*) filter (where updated_at <= :c and created_at > :c) from {name}"),
                {"c": old_clock}).one()
            assert total == before[name] + result.inserted.get(name, 0)
            assert fresh == result.inserted.get(name, 0) + result.updated.get(name, 0), name
            assert stale_changed == 0
    assert read_state(engine).business_clock == old_clock + dt.timedelta(days=10)
    engine.dispose()
    assert result.inserted["orders"] > 0 and result.updated["service_tickets"] > 0
