"""Every read path a BI tool or analyst uses on the published marts, and `crmwh query`."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sample_marts import create_sample_marts

from warehouse.cli import main
from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.settings import Settings
from warehouse.serve.publish import publish
from warehouse.serve.query import check_read_only


@pytest.fixture
def published(settings: Settings) -> dict[str, int]:
    with warehouse_writer(settings) as con:
        create_sample_marts(con)
        manifest = publish(settings, "read-paths", None, "passed", con=con)
    return manifest.row_counts


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(os.path.realpath(path)).read_bytes()).hexdigest()


def test_duckdb_read_only(settings: Settings, published: dict[str, int]) -> None:
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        for table, n in published.items():
            assert con.execute(f"select count(*) from marts.{table}").fetchone()[0] == n
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("create table marts.x as select 1")
    finally:
        con.close()


@pytest.mark.parametrize(
    ("url_suffix", "connect_args"),
    [("?access_mode=read_only", {}), ("", {"read_only": True})],
    ids=["url-access-mode", "connect-args"],
)
def test_sqlalchemy_duckdb_engine_read_only(settings: Settings, published: dict[str, int],
                                           url_suffix: str, connect_args: dict) -> None:
    before = _digest(settings.published_path)
    engine = sa.create_engine(f"duckdb:///{settings.published_path}{url_suffix}", connect_args=connect_args)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            assert set(inspector.get_table_names()) == set(published)  # what Superset/Metabase list
            n = conn.execute(sa.text("select count(*) from marts.customer_retention")).scalar_one()
            assert n == published["customer_retention"]
            rows = conn.execute(sa.text(
                "select rfm_segment, count(*) as n from customer_retention group by 1 order by 1")).all()
            assert sum(r.n for r in rows) == n
            with pytest.raises(sa.exc.DBAPIError, match="read-only"):
                conn.execute(sa.text("delete from customer_retention"))
    finally:
        engine.dispose()
    assert _digest(settings.published_path) == before


def test_sqlalchemy_column_reflection(settings: Settings, published: dict[str, int]) -> None:
    """What a BI tool does when it adds a dataset: reflect the columns (and their comments). Under
    SQLAlchemy 2 this needs the crmwh dialect (warehouse/serve/bi_dialect.py; plain duckdb-engine 0.17 fails
    upstream, see tests/sql/test_bi_clients.py)."""
    engine = sa.create_engine(f"duckdb+crmwh:///{settings.published_path}?access_mode=read_only")
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            columns = {c["name"]: c for c in inspector.get_columns("customer_retention")}
            assert inspector.get_pk_constraint("customer_retention") == {"name": None, "constrained_columns": []}
            assert inspector.get_foreign_keys("customer_retention") == []
    finally:
        engine.dispose()
    assert {"customer_id", "risk_score", "rfm_segment"} <= set(columns)
    assert columns["risk_score"]["comment"]


def test_parquet_through_polars_and_pyarrow(settings: Settings, published: dict[str, int]) -> None:
    for table, n in published.items():
        path = settings.parquet_dir / f"{table}.parquet"
        assert pl.read_parquet(path).height == n
        assert pq.read_table(path).num_rows == n
    lazy = pl.scan_parquet(settings.parquet_dir / "customer_retention.parquet")
    by_band = lazy.group_by("risk_band").len().collect()
    assert by_band["len"].sum() == published["customer_retention"]
    dataset = ds.dataset(settings.parquet_dir, format="parquet")
    assert sorted(Path(f).stem for f in dataset.files) == sorted(published)
    manifest = pl.read_parquet(settings.parquet_dir / "publish_manifest.parquet")
    assert dict(zip(manifest["table_name"], manifest["row_count"], strict=True)) == published


def test_query_formats(settings: Settings, published: dict[str, int], capsys: pytest.CaptureFixture) -> None:
    sql = "select rfm_segment, count(*) as n from marts.customer_retention group by 1 order by 1"
    expected = duckdb.connect(str(settings.published_path), read_only=True).execute(sql).fetchall()

    assert main(["query", sql, "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["rfm_segment", "n"]
    assert [(r[0], int(r[1])) for r in rows[1:]] == expected

    assert main(["query", sql, "--format", "json"]) == 0
    assert [(r["rfm_segment"], r["n"]) for r in json.loads(capsys.readouterr().out)] == expected

    assert main(["query", sql]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["rfm_segment", "|", "n"]
    assert out[-1] == f"({len(expected)} rows)"
    assert len(out) == len(expected) + 3

    assert main(["query", "select * from marts.customer_retention"]) == 0  # more rows than the table shows
    assert "more not shown" in capsys.readouterr().out.splitlines()[-1]

    assert main(["query", "select * from marts.data_dictionary where table_name = 'cohort_retention'",
                 "--format", "json"]) == 0
    assert {r["column_name"] for r in json.loads(capsys.readouterr().out)} >= {"cohort_month", "retention_rate"}


WRITES = (
    "insert into marts.customer_retention select * from marts.customer_retention",
    "update customer_retention set risk_score = 0",
    "delete from customer_retention",
    "create table t as select 1",
    "drop table customer_retention",
    "alter table customer_retention add column x int",
    "copy customer_retention to '/tmp/out.csv'",
    "attach ':memory:' as scratch",
    "detach marts",
    "export database '/tmp/exported'",
    "install httpfs",
    "set threads = 1",
    "pragma enable_profiling",
    "checkpoint",
    "select 1; drop table customer_retention",
)


def test_query_refuses_writes_with_one_clear_line(settings: Settings, published: dict[str, int],
                                                  capsys: pytest.CaptureFixture) -> None:
    before = _digest(settings.published_path)
    for sql in WRITES:
        assert main(["query", sql]) == 2, sql
        captured = capsys.readouterr()
        assert captured.out == "", sql
        err = captured.err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("crmwh: error: "), (sql, err)
        assert "read-only" in err[0], (sql, err)
    assert _digest(settings.published_path) == before
    assert main(["query", "select count(*) from customer_retention", "--format", "csv"]) == 0
    assert capsys.readouterr().out.split() == ["count_star()", str(published["customer_retention"])]


def test_query_cannot_reach_files_outside_the_published_marts(settings: Settings, published: dict[str, int],
                                                             tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    assert main(["query", f"select * from read_csv('{secret}')"]) == 2
    assert "disabled" in capsys.readouterr().err


def test_query_bad_sql_and_nothing_published(settings: Settings, capsys: pytest.CaptureFixture) -> None:
    assert main(["query", "select 1"]) == 2
    assert "nothing is published yet" in capsys.readouterr().err
    with warehouse_writer(settings) as con:
        publish(settings, "r", None, "passed", con=con)
    assert main(["query", "selec 1"]) == 2
    assert "does not parse" in capsys.readouterr().err
    assert main(["query", "select * from no_such_table"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_table" in err[0]


def test_read_statements_pass_the_guard() -> None:
    for sql in ["select 1", "with a as (select 1) select * from a", "from t", "values (1)", "describe t",
                "show tables", "summarize t", "explain select 1", "select 1 union all select 2"]:
        check_read_only(sql)


def test_publish_command(settings: Settings, capsys: pytest.CaptureFixture) -> None:
    with warehouse_writer(settings) as con:
        counts = create_sample_marts(con, only=("cohort_retention",))
    assert main(["publish", "--run-id", "from-cli"]) == 0
    out = capsys.readouterr().out
    assert "from-cli" in out and f"cohort_retention: {counts['cohort_retention']} rows" in out
    assert "validation not_validated" in out
    assert main(["publish", "--validation-status", "failed"]) == 2
    assert "publish refused" in capsys.readouterr().err
    assert main(["publish", "--verify-only"]) == 0
    assert "is complete: 3 tables match" in capsys.readouterr().out
