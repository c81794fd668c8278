"""The generic writes of the core star schema, shared by every fact loader (``warehouse.core.load`` for the
sales, service and payment facts, ``warehouse.core.services_load`` for the services agency's): does a table
exist, the type-2 dimension version valid at a row's event time, the change-only fact upsert, and the
record of which fact rows a load wrote (what the post-load checks look at)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb

from warehouse.foundation.db import column_types
from warehouse.foundation.run_relations import versions_sql
from warehouse.foundation.sqltext import quote_ident, quote_literal

# The fact rows a load wrote, while :func:`recording_writes` is open on the connection, by row id (a key
# look-up would scan the whole fact's key column again; row ids fetch only the row groups that hold the
# rows). Temp table ``_core_written`` (table_name, key_column, whole, mark): per fact upserted the
# largest row id it held before the upsert wrote (every row appended after it is this load's) and
# ``whole`` for a fact that was empty before, so every row it holds is this load's; temp table
# ``_core_kept`` (table_name, rid): the stored rows of the incoming ids the upsert kept (unchanged, or
# newer than the incoming version). The rows holding an incoming id are exactly the kept ones and those
# appended: a check of them sees every row of the ids the load delivered.
WRITTEN_TABLE = "_core_written"
KEPT_TABLE = "_core_kept"
_RECORDING: set[int] = set()


@contextlib.contextmanager
def recording_writes(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Within the block (inside the load's transaction: row ids hold until it commits),
    :func:`upsert_fact` notes the rows it delivers, so the post-load checks can look at those rows only."""
    con.execute(f"create or replace temp table {WRITTEN_TABLE} "
                "(table_name varchar, key_column varchar, whole boolean, mark bigint)")
    con.execute(f"create or replace temp table {KEPT_TABLE} (table_name varchar, rid bigint)")
    _RECORDING.add(id(con))
    try:
        yield
    finally:
        _RECORDING.discard(id(con))
        with contextlib.suppress(duckdb.Error):  # an aborted transaction drops them with its rollback
            con.execute(f"drop table if exists {WRITTEN_TABLE}")
            con.execute(f"drop table if exists {KEPT_TABLE}")


def written_scope(con: duckdb.DuckDBPyConnection, table: str) -> tuple[str, str] | None:
    """(key column, SQL of the rows) of ``core.<table>`` this load delivered: the kept rows, every row
    appended since the first upsert of the load, and any row without a key; None when they are not
    known (no recording, the fact was not upserted, or it was empty before: every row is the load's)."""
    if id(con) not in _RECORDING:
        return None
    row = con.execute(f"select any_value(key_column), bool_or(whole), min(mark) from {WRITTEN_TABLE} "  # noqa: S608
                      "where table_name = ?", [table]).fetchone()
    if row is None or row[0] is None or row[1]:
        return None
    mark, fact = int(row[2]), f"core.{quote_ident(table)}"
    # constant row-id bounds: the scans skip every row group outside them
    return row[0], (f"select * from {fact} where rowid <= {mark} and rowid in (select rid from {KEPT_TABLE} "  # noqa: S608
                 f"where table_name = {quote_literal(table)}) "
                 f"union all select * from {fact} where rowid > {mark} "
                 f"union all select * from {fact} where rowid <= {mark} and {quote_ident(row[0])} is null")


def version_lookup(dim: str, key: str, bid: str, alias: str, bid_expr: str, ts_expr: str) -> tuple[str, str]:
    """(join, key expression) resolving the dimension version valid at the row's event time; before the
    first version (or with no event time) the first one, a missing id the unknown member (0) for
    customers / NULL otherwise.

    Versions of one id are contiguous (each ``valid_to`` is the next ``valid_from``), so the first is
    widened to start at -infinity and the last to end at +infinity, and the look-up is an equi-join on
    the business id with a range condition: a hash join that carries only the matching version's key.
    (An ``asof`` join sorts the whole wide fact stream first: 10 s of the 5-million-line full load.)"""
    versions = versions_sql(dim, key, bid)
    ts = f"coalesce(({ts_expr})::timestamp, '-infinity'::timestamp)"
    join = (f"left join ({versions}) {alias} on {alias}.{bid} = {bid_expr} "
            f"and {ts} >= {alias}._valid_from and {ts} < {alias}._valid_to")
    fallback = ", 0" if key == "customer_key" else ""
    return join, f"coalesce({alias}.{key}{fallback})"


# A fact's id hashed to a number (``hash(<id>)``, UBIGINT), stored beside it: the upsert finds the stored
# rows of the incoming ids by it, reading only that column and the row ids. The ids are text
# (``crm:<line id>``), whose scan costs 6-7 x as much (five million ids: 0.12 s against 0.018 s) and whose
# zone maps prune nothing. Written by the upsert only; a NULL (a row stored before the column existed)
# is filled in before the look-up.
KEY_HASH = "_key_hash"


def upsert_fact(con: duckdb.DuckDBPyConnection, fact: str, fid: str, keyed_sql: str,
                 hash_exclude: tuple[str, ...] = ()) -> int:
    """Write the rows of ``keyed_sql`` whose content changed; drop soft-deleted ones. Returns rows written."""
    name = fact.split(".")[1]
    columns = list(column_types(con, fact))
    by_key_hash = KEY_HASH in columns
    # surrogate keys of the type-2 dimensions are re-pointed in place (refresh_fact_keys), so they stay
    # out of the content hash; the keys of the code dimensions and employees (channel_key, employee_key,
    # agent_key, ...) are the only record of the order's channel or sales rep: a change must rewrite the row
    hashed = [c for c in columns if c not in ("_hash", "_batch_id", "_updated_at", KEY_HASH, *hash_exclude)
              and c not in ("customer_key", "product_key")] + ["is_deleted"]
    key_hash = f", hash({fid}) as {KEY_HASH}" if by_key_hash else ""
    con.execute(f"create or replace temp table _fact_new as select *, hash({', '.join(hashed)})::varchar as _hash"
                f"{key_hash} from ({keyed_sql})")
    # one row per id, the latest version winning: a window over the whole (wide) stream costs a sort of
    # every row, so only the ids that occur more than once are ranked
    con.execute(f"""
        delete from _fact_new where rowid in (
            select rowid from (
                select rowid, row_number() over (
                           partition by {fid} order by _updated_at desc nulls last, _batch_id desc) as _rank
                from _fact_new where {fid} in (select {fid} from _fact_new group by {fid} having count(*) > 1))
            where _rank > 1)
    """)
    # changed = a new id, or a different hash from a stored version that is not newer than the incoming
    # one: those stored versions go, then every incoming row whose id is no longer stored is written.
    # The stored rows of the incoming ids are found in one scan of the fact's id hashes (KEY_HASH; of the
    # id column where a fact has none); the delete then goes by row id and the insert's anti-join is
    # against those few rows.
    stored = con.execute(f"select exists (select 1 from {fact})").fetchone()[0]  # noqa: S608
    recording = id(con) in _RECORDING
    if recording:
        _note_written(con, name, fid, fact, whole=not stored)
    if not stored:  # a first load: every incoming row is new
        written = con.execute(f"insert into {fact} by name select {', '.join(columns)} from _fact_new "  # noqa: S608
                              "where not is_deleted").fetchone()
        con.execute("drop table _fact_new")
        return int(written[0]) if written else 0
    if by_key_hash:
        con.execute(f"update {fact} set {KEY_HASH} = hash({fid}) where {KEY_HASH} is null")  # noqa: S608
        # the row ids of the matching hashes first (a scan of the number column alone), then those rows'
        # ids compared as text (a collision of two ids' hashes is told apart there)
        lookup = (f"{fact} f where f.rowid in (select rowid from {fact} "
                  f"where {KEY_HASH} in (select {KEY_HASH} from _fact_new)) and f.{fid} in (select {fid} from _fact_new)")
    else:
        lookup = f"{fact} f where f.{fid} in (select {fid} from _fact_new)"
    con.execute(f"""
        create or replace temp table _fact_old as
        select f.rowid as _rid, f.{fid}, f._hash, f._updated_at, false as _gone from {lookup}
    """)
    con.execute(f"""
        update _fact_old set _gone = true where {fid} in (
            select o.{fid} from _fact_old o join _fact_new n on o.{fid} = n.{fid}
            where o._hash is distinct from n._hash and coalesce(o._updated_at <= n._updated_at, true))
    """)
    if recording:
        con.execute(f"insert into {KEPT_TABLE} select ?, _rid from _fact_old where not _gone", [name])  # noqa: S608
    con.execute(f"delete from {fact} where rowid in (select _rid from _fact_old where _gone)")  # noqa: S608
    written = con.execute(f"insert into {fact} by name select {', '.join(columns)} from _fact_new n "
                          f"where not n.is_deleted and not exists "
                          f"(select 1 from _fact_old o where not o._gone and o.{fid} = n.{fid})").fetchone()
    con.execute("drop table _fact_old")
    con.execute("drop table _fact_new")
    return int(written[0]) if written else 0


def _note_written(con: duckdb.DuckDBPyConnection, name: str, fid: str, fact: str, *, whole: bool) -> None:
    """Note that the upsert of ``core.<name>`` starts: the largest row id the fact holds now (see
    :func:`recording_writes`); ``whole``: the fact held no row before, so every row it will hold is
    this load's."""
    mark = con.execute(f"select coalesce(max(rowid), -1) from {fact}").fetchone()[0]  # noqa: S608
    con.execute(f"insert into {WRITTEN_TABLE} values (?, ?, ?, ?)", [name, fid, whole, mark])  # noqa: S608


def hash_expr(columns: list[str] | tuple[str, ...], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return f"md5(json_array({', '.join(prefix + c for c in columns)})::varchar)"


def reserve_keys(con: duckdb.DuckDBPyConnection, sequence: str, count: int) -> int:
    """Take ``count`` consecutive keys from ``sequence`` and return the first (0 when none).

    Callers number their new rows first, first + 1, ... in an order of their own (the business id):
    ``nextval()`` inside an insert hands keys out in scan order, which differs from run to run, so
    the same data would get other surrogate keys.
    """
    if not count:
        return 0
    return int(con.execute(f"select min(nextval('{sequence}')) from range(?)", [count]).fetchone()[0])
