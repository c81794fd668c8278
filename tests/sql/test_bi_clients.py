"""BI clients on the published marts: SQLAlchemy 2 reflection through the crmwh dialect, and Parquet
types that stay the same across published versions."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sample_marts import create_sample_marts

from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.settings import Settings
from warehouse.serve.publish import list_versions, publish, stable_type


@pytest.fixture
def published(settings: Settings) -> dict[str, int]:
    with warehouse_writer(settings) as con:
        create_sample_marts(con)
        return publish(settings, "bi", None, "passed", con=con).row_counts


def _engine(path: Path) -> sa.Engine:
    return sa.create_engine(f"duckdb+crmwh:///{path}?access_mode=read_only")


def test_sqlalchemy2_reflects_the_published_marts(settings: Settings, published: dict[str, int]) -> None:
    engine = _engine(settings.published_path)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            assert set(inspector.get_table_names()) == set(published)
            columns = {c["name"]: c for c in inspector.get_columns("customer_retention")}
            assert {"customer_id", "risk_score", "rfm_segment"} <= set(columns)
            assert isinstance(columns["risk_score"]["type"], sa.Float) and columns["risk_score"]["comment"]
            assert inspector.get_pk_constraint("customer_retention")["constrained_columns"] == []
            assert inspector.get_foreign_keys("customer_retention") == []
            assert inspector.get_table_comment("customer_retention")["text"].startswith("grain:")
            # the same under the schema name a BI tool lists (catalog.schema)
            assert "marts.main" in inspector.get_schema_names()
            assert len(inspector.get_columns("customer_retention", schema="marts.main")) == len(columns)
            with pytest.raises(sa.exc.NoSuchTableError):
                inspector.get_columns("no_such_table")
            table = sa.Table("cohort_retention", sa.MetaData(), autoload_with=conn)  # a dataset in a BI tool
            n = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            assert n == published["cohort_retention"]
            with pytest.raises(sa.exc.DBAPIError, match="read-only"):
                conn.execute(sa.text("delete from cohort_retention"))
        frame = pd.read_sql_table("cross_sell_recommendations", engine)  # pandas reflects the table first
        assert len(frame) == published["cross_sell_recommendations"]
        meta = sa.MetaData()
        meta.reflect(engine)
        assert set(meta.tables) == set(published)
    finally:
        engine.dispose()


def test_keys_and_types_are_reflected_from_duckdb_itself(tmp_path: Path) -> None:
    path = tmp_path / "keys.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table customer (customer_id varchar primary key, tier varchar unique, "
                "credit decimal(18,2), seen timestamp, tags varchar[], score float check (score >= 0))")
    con.execute("create table orders (order_id bigint primary key, customer_id varchar references customer(customer_id))")
    con.execute("create index orders_by_customer on orders (customer_id)")
    con.close()
    engine = _engine(path)
    try:
        inspector = sa.inspect(engine)
        assert inspector.get_pk_constraint("customer")["constrained_columns"] == ["customer_id"]
        assert inspector.get_pk_constraint("orders")["constrained_columns"] == ["order_id"]
        (fk,) = inspector.get_foreign_keys("orders")
        assert (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"]) == (
            ["customer_id"], "customer", ["customer_id"])
        assert [u["column_names"] for u in inspector.get_unique_constraints("customer")] == [["tier"]]
        assert "score" in inspector.get_check_constraints("customer")[0]["sqltext"]
        assert inspector.get_indexes("orders") == [
            {"name": "orders_by_customer", "unique": False, "column_names": ["customer_id"]}]
        types = {c["name"]: c["type"] for c in inspector.get_columns("customer")}
        assert isinstance(types["credit"], sa.Numeric) and (types["credit"].precision, types["credit"].scale) == (18, 2)
        assert isinstance(types["seen"], sa.DateTime) and isinstance(types["tags"], sa.ARRAY)
        assert isinstance(types["score"], sa.Float)
    finally:
        engine.dispose()


def test_plain_duckdb_engine_still_fails_upstream() -> None:
    """The reason the crmwh dialect exists: drop it when this starts passing (duckdb-engine fix released)."""
    engine = sa.create_engine("duckdb:///:memory:")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("create table t (a int)"))
            with pytest.raises(sa.exc.DBAPIError, match="pg_collation|REGCLASS"):
                sa.inspect(conn).get_columns("t")
    finally:
        engine.dispose()


@pytest.mark.parametrize(("given", "published_as"), [
    ("INTEGER", "BIGINT"), ("SMALLINT", "BIGINT"), ("HUGEINT", "BIGINT"), ("UBIGINT", "BIGINT"),
    ("FLOAT", "DOUBLE"), ("DECIMAL(18,2)", "DECIMAL(38,2)"), ("TIMESTAMP_NS", "TIMESTAMP"),
    ("INTEGER[]", "BIGINT[]"), ("VARCHAR", "VARCHAR"), ("DATE", "DATE"), ("TIMESTAMP WITH TIME ZONE",
                                                                         "TIMESTAMP WITH TIME ZONE"),
])
def test_stable_types(given: str, published_as: str) -> None:
    assert stable_type(given) == published_as


VARIANTS = (  # the same mart as two versions might build it from different data
    "select 1::integer as n, 2.5::float as x, 3.25::decimal(18,2) as amount, [1, 2]::integer[] as ids, "
    "timestamp_ns '2025-01-01 10:00:00' as at from range(3)",
    "select 10::bigint as n, 2.5::double as x, sum(3.25::decimal(18,2)) as amount, [3]::bigint[] as ids, "
    "timestamp '2025-02-01 10:00:00' as at from range(2) group by all",
)


def test_parquet_of_two_versions_reads_as_one_dataset(settings: Settings) -> None:
    for i, sql in enumerate(VARIANTS):
        with warehouse_writer(settings) as con:
            con.execute("create schema if not exists marts")
            con.execute(f"create or replace table marts.measures as {sql}")
            con.execute("comment on table marts.measures is 'grain: one row per thing; test mart'")
            publish(settings, f"v{i}", None, "passed", con=con)
    files = [v / "parquet" / "measures.parquet" for v in list_versions(settings)]
    assert len(files) == 2
    schemas = [pq.read_schema(f) for f in files]
    assert schemas[0].equals(schemas[1], check_metadata=False)
    assert schemas[0].field("n").type == pa.int64() and schemas[0].field("ids").type == pa.list_(pa.int64())
    table = ds.dataset([str(f) for f in files], format="parquet").to_table()
    assert table.num_rows == 3 + 1
    assert pl.scan_parquet([str(f) for f in files]).select(pl.len()).collect().item() == 4
    with duckdb.connect(str(settings.published_path), read_only=True) as con:  # the DuckDB file agrees
        types = dict(con.execute("select column_name, data_type from marts.data_dictionary "
                                 "where table_name = 'measures'").fetchall())
    assert types == {"n": "BIGINT", "x": "DOUBLE", "amount": "DECIMAL(38,2)", "ids": "BIGINT[]", "at": "TIMESTAMP"}
