"""The generic writes of the core star schema, shared by every fact loader (``warehouse.load`` for the
sales, service and payment facts, ``warehouse.services_load`` for the services agency's): does a table
exist, the type-2 dimension version valid at a row's event time, and the change-only fact upsert."""

from __future__ import annotations

import duckdb


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    """True when ``schema.table`` is a table of the open database."""
    schema, table = qualified.split(".")
    return bool(con.execute("select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
                            [schema, table]).fetchone()[0])


def versions_sql(dim: str, key: str, bid: str) -> str:
    """The versions of a type-2 dimension as contiguous ranges ``[_valid_from, _valid_to)``: the first of
    each id widened to -infinity, the open one to +infinity (what :func:`version_lookup` joins)."""
    return (f"select {bid}, {key}, case when row_number() over (partition by {bid} order by valid_from, {key}) = 1 "
            f"then '-infinity'::timestamp else valid_from end as _valid_from, "
            f"coalesce(valid_to, 'infinity'::timestamp) as _valid_to from {dim}")


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


def upsert_fact(con: duckdb.DuckDBPyConnection, fact: str, fid: str, keyed_sql: str,
                 hash_exclude: tuple[str, ...] = ()) -> int:
    """Write the rows of ``keyed_sql`` whose content changed; drop soft-deleted ones. Returns rows written."""
    columns = [r[0] for r in con.execute(
        "select column_name from duckdb_columns() where schema_name = 'core' and table_name = ? "
        "order by column_index", [fact.split(".")[1]]).fetchall()]
    # surrogate keys of the type-2 dimensions are re-pointed in place (refresh_fact_keys), so they stay
    # out of the content hash; the keys of the code dimensions and employees (channel_key, employee_key,
    # agent_key, ...) are the only record of the order's channel or sales rep: a change must rewrite the row
    hashed = [c for c in columns if c not in ("_hash", "_batch_id", "_updated_at", *hash_exclude)
              and c not in ("customer_key", "product_key")] + ["is_deleted"]
    con.execute(f"create or replace temp table _fact_new as select *, hash({', '.join(hashed)})::varchar as _hash "
                f"from ({keyed_sql})")
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
    # one: those stored versions go, then every incoming row whose id is no longer stored is written
    con.execute(f"""
        delete from {fact} where {fid} in (
            select n.{fid} from _fact_new n join {fact} f on f.{fid} = n.{fid}
            where f._hash is distinct from n._hash and coalesce(f._updated_at <= n._updated_at, true))
    """)
    written = con.execute(f"insert into {fact} by name select {', '.join(columns)} from _fact_new n "
                          f"where not n.is_deleted and not exists (select 1 from {fact} f where f.{fid} = n.{fid})"
                          ).fetchone()
    con.execute("drop table _fact_new")
    return int(written[0]) if written else 0
