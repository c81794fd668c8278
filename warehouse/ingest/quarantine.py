"""Quarantine: rejected rows with their raw record, the rules they broke and a readable reason.

Every guarded staging table ``staging.<t>`` has a twin ``quarantine.<t>``. A row is identified in its
batch by ``(_batch_id, _source_row)``. Moving a row to quarantine deletes it from staging in the same
transaction, so a row is in exactly one of the two places and ``rows read = loaded + quarantined``.
"""

from __future__ import annotations

import re

import duckdb

from warehouse.foundation.db import column_types

QUARANTINE_COLUMNS = """
    _batch_id varchar not null,
    _source_row bigint not null,
    _source varchar,
    raw_record varchar,            -- JSON text of the record as read from the source
    rules varchar[] not null,      -- ids of every rule the row broke
    reason varchar not null,       -- readable explanation for a person
    quarantined_at timestamp not null default current_timestamp,
    replayed_at timestamp,         -- set when `crmwh quarantine replay` loaded it after all
    replay_batch_id varchar
"""

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def checked_identifier(name: str) -> str:
    """A table or column name safe to splice into SQL (lower-case letters, digits, underscores)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return name


RAW_LINEAGE = ("_batch_id", "_source", "_source_row", "_extracted_at")


def raw_table_of(staging_table: str) -> str | None:
    """The ``raw`` table (unqualified) a staging table is staged from, None for other tables."""
    if staging_table.startswith("stg_crm__"):
        return "crm__" + staging_table[len("stg_crm__"):]
    if staging_table == "stg_files__sales_lines":
        return "files__sales_lines"
    return None


def raw_columns(con: duckdb.DuckDBPyConnection, raw_table: str) -> list[str]:
    """The source columns of ``raw.<raw_table>`` (lineage columns left out), in table order."""
    return [c for c in column_types(con, f"raw.{raw_table}") if c not in RAW_LINEAGE]


def raw_record_sql(columns: list[str], alias: str = "") -> str:
    """JSON text of a raw row's source ``columns`` (see :func:`raw_columns`), keyed by their names."""
    prefix = f"{alias}." if alias else ""
    pairs = ", ".join(f"'{c}', {prefix}\"{c}\"" for c in columns)
    return f"json_object({pairs})::varchar"


def ensure_quarantine_table(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Create ``quarantine.<table>`` if needed; return its qualified name."""
    qualified = f"quarantine.{checked_identifier(table)}"
    con.execute(f"create table if not exists {qualified} ({QUARANTINE_COLUMNS})")
    return qualified


def quarantine_from(con: duckdb.DuckDBPyConnection, table: str, batch_id: str, failures_sql: str) -> int:
    """Move the batch's rows named by ``failures_sql`` from ``staging.<table>`` to quarantine.

    ``failures_sql`` is a SELECT (or a table name) giving ``_source_row``, ``rules`` (VARCHAR[]) and
    ``reason`` for the rows of ``batch_id`` to reject; one row per ``_source_row``. The staging table
    must have ``_batch_id``, ``_source_row``; the quarantined record is the staged ``_raw`` (JSON text
    of the source record) where set, else the row of the batch in the ``raw`` layer, else the staged
    row itself serialised. Returns the number of rows moved. The caller
    owns the transaction.
    """
    staging = f"staging.{checked_identifier(table)}"
    target = ensure_quarantine_table(con, table)
    columns = set(column_types(con, staging))
    # the record as read: staged rows of a CRM table carry no copy of it (``_raw`` is NULL but for
    # replayed rows), the raw layer has it under the same (_batch_id, _source_row)
    raw_table = raw_table_of(table)
    source_columns = raw_columns(con, raw_table) if raw_table else []
    join = ""
    record = ["s._raw"] if "_raw" in columns else []
    if source_columns:
        join = (f"left join raw.{raw_table} rw on rw._batch_id = s._batch_id "
                "and rw._source_row = s._source_row")
        record.append(f"case when rw._batch_id is not null then {raw_record_sql(source_columns, 'rw')} end")
    record.append("to_json(s)::varchar")
    raw_expr = f"coalesce({', '.join(record)})"
    source_expr = "s._source" if "_source" in columns else "null"
    con.execute(f"create or replace temp table _quarantine_batch as select * from ({failures_sql}) f")
    moved = con.execute(
        f"""
        insert into {target} (_batch_id, _source_row, _source, raw_record, rules, reason)
        select s._batch_id, s._source_row, {source_expr}, {raw_expr}, f.rules, f.reason
        from {staging} s join _quarantine_batch f on s._source_row = f._source_row {join}
        where s._batch_id = ?
        """,
        [batch_id],
    ).fetchone()
    con.execute(
        f"delete from {staging} where _batch_id = ? and _source_row in (select _source_row from _quarantine_batch)",
        [batch_id],
    )
    con.execute("drop table if exists _quarantine_batch")
    return int(moved[0]) if moved else 0


def quarantined_count(con: duckdb.DuckDBPyConnection, table: str, batch_id: str) -> int:
    """Rows of a batch currently held in ``quarantine.<table>`` (not yet replayed)."""
    target = ensure_quarantine_table(con, table)
    row = con.execute(
        f"select count(*) from {target} where _batch_id = ? and replayed_at is null", [batch_id]
    ).fetchone()
    return int(row[0])
