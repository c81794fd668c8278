"""The change-only fact upsert (warehouse/core/core_writes.py) finds the stored rows of the incoming ids by
the id's hash (``_key_hash``): rows stored before that column existed are filled in, and two ids whose
hashes collide are still told apart by the id itself."""

from __future__ import annotations

import duckdb
import pytest

from warehouse.core.core_writes import KEPT_TABLE, KEY_HASH, recording_writes, upsert_fact


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("create schema core")
    connection.execute(f"create table core.fct_thing (thing_id varchar, amount integer, is_deleted boolean, "
                       f"_batch_id varchar, _updated_at timestamp, _hash varchar, {KEY_HASH} ubigint)")
    return connection


def _upsert(con: duckdb.DuckDBPyConnection, batch: str, rows: list[tuple[str, int, bool]]) -> int:
    values = ", ".join(f"('{i}', {a}, {str(d).lower()}, '{batch}', timestamp '2025-01-0{batch[-1]}')"
                       for i, a, d in rows)
    return upsert_fact(con, "core.fct_thing", "thing_id",
                       f"select * from (values {values}) t(thing_id, amount, is_deleted, _batch_id, _updated_at)")


def _stored(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("select thing_id, amount, _batch_id from core.fct_thing order by thing_id").fetchall()


def test_rows_stored_without_a_key_hash_are_found_and_filled_in(con: duckdb.DuckDBPyConnection) -> None:
    assert _upsert(con, "b1", [("a", 1, False), ("b", 2, False), ("c", 3, False)]) == 3
    con.execute(f"update core.fct_thing set {KEY_HASH} = null")  # a warehouse from before the column
    assert _upsert(con, "b2", [("a", 1, False), ("b", 20, False), ("c", 3, True)]) == 1
    assert _stored(con) == [("a", 1, "b1"), ("b", 20, "b2")]  # a kept, b replaced, c deleted: no repeats
    assert con.execute(f"select count(*) from core.fct_thing where {KEY_HASH} is distinct from hash(thing_id)"
                       ).fetchone()[0] == 0


def test_ids_whose_hashes_collide_are_told_apart(con: duckdb.DuckDBPyConnection) -> None:
    _upsert(con, "b1", [("a", 1, False), ("b", 2, False)])
    # "a" carries the hash of "d": the look-up by hash finds it for the incoming "d", the id does not match
    con.execute(f"update core.fct_thing set {KEY_HASH} = hash('d') where thing_id = 'a'")
    with recording_writes(con):
        assert _upsert(con, "b2", [("d", 4, False), ("b", 2, False)]) == 1
        kept = con.execute(f"select f.thing_id from core.fct_thing f join {KEPT_TABLE} k on k.rid = f.rowid").fetchall()
    assert kept == [("b",)]  # the stored row of an incoming id, not the one whose hash collided
    assert _stored(con) == [("a", 1, "b1"), ("b", 2, "b1"), ("d", 4, "b2")]
