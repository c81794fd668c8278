"""warehouse.foundation.db.table_exists: tables, views, missing names, and no harm to an open transaction."""

from __future__ import annotations

import duckdb

from warehouse.foundation.db import table_exists


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema core; create table core.t (a int); create view core.v as select 1 as a")
    return con


def test_tables_and_views_are_told_apart() -> None:
    con = _con()
    assert table_exists(con, "core.t")
    assert not table_exists(con, "core.v")
    assert table_exists(con, "core.v", views=True)
    assert table_exists(con, "core.t", views=True)


def test_missing_names() -> None:
    con = _con()
    assert not table_exists(con, "core.nope")
    assert not table_exists(con, "nope.t")
    assert not table_exists(con, "core.nope", views=True)


def test_a_missing_name_leaves_the_open_transaction_usable() -> None:
    con = _con()
    con.execute("begin transaction")
    con.execute("create table core.made_here (a int)")
    assert table_exists(con, "core.made_here")  # seen inside the transaction that made it
    assert not table_exists(con, "core.nope")
    con.execute("insert into core.made_here values (1)")
    con.execute("commit")
    assert con.execute("select count(*) from core.made_here").fetchone()[0] == 1
