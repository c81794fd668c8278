"""The data dictionary and the comments of a published version: the catalog of the marts to publish
(tables, columns, DuckDB comments), the comment statements that carry them into the published file, the
stable published types, the ``data_dictionary`` rows, and the tables publishing owns
(``data_dictionary``, ``publish_manifest``).

Table comments are ``'grain: one row per ...; what it is'``; a missing one is reported as a manifest
warning (``undocumented``).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from warehouse.foundation.sqltext import quote_ident, quote_literal
from warehouse.serve.publish.errors import PublishError
from warehouse.serve.publish.manifest import MANIFEST_TABLE

SOURCE_SCHEMA = "marts"
DICTIONARY_TABLE = "data_dictionary"
PUBLISH_OWNED_TABLES: tuple[str, ...] = (DICTIONARY_TABLE, MANIFEST_TABLE)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

DICTIONARY_COMMENTS: dict[str, Any] = {
    "table": "grain: one row per published column; the data dictionary of this published version, "
             "built from the DuckDB comments of the marts",
    "columns": {
        "table_name": "published table (a Parquet file of the same name sits in the parquet folder)",
        "column_name": "column of that table",
        "ordinal": "position of the column in the table, from 1",
        "data_type": "DuckDB data type of the column",
        "description": "what the column holds (its DuckDB column comment)",
        "grain": "what one row of the table is (from the table comment 'grain: ...')",
        "table_description": "what the table is for (the rest of the table comment)",
    },
}
DICTIONARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("table_name", "VARCHAR"), ("column_name", "VARCHAR"), ("ordinal", "INTEGER"), ("data_type", "VARCHAR"),
    ("description", "VARCHAR"), ("grain", "VARCHAR"), ("table_description", "VARCHAR"),
)

def split_table_comment(comment: str | None) -> tuple[str | None, str | None]:
    """``'grain: one row per x; what it is'`` -> (``'one row per x'``, ``'what it is'``)."""
    if not comment:
        return None, None
    text = comment.strip()
    match = re.match(r"(?is)grain\s*:\s*(.*?)(?:;\s*(.*))?$", text)
    if not match:
        return None, text
    grain = match.group(1).strip() or None
    rest = (match.group(2) or "").strip() or None
    return grain, rest



# Catalog of the marts to publish ---------------------------------------------------------------

@dataclass(frozen=True)
class MartColumn:
    name: str
    data_type: str
    comment: str | None


@dataclass(frozen=True)
class MartTable:
    name: str
    comment: str | None
    columns: tuple[MartColumn, ...]


def list_marts(con: duckdb.DuckDBPyConnection) -> list[MartTable]:
    """Tables and views of the working warehouse's ``marts`` schema, with their comments."""
    rows = con.execute(
        """
        select table_name, comment from duckdb_tables()
        where database_name = current_database() and schema_name = ? and not temporary
        union all
        select view_name, comment from duckdb_views()
        where database_name = current_database() and schema_name = ? and not internal and not temporary
        order by 1
        """,
        [SOURCE_SCHEMA, SOURCE_SCHEMA],
    ).fetchall()
    marts: list[MartTable] = []
    for name, comment in rows:
        if name in PUBLISH_OWNED_TABLES:
            continue  # rebuilt by every publish
        if not _IDENTIFIER.fullmatch(name):
            raise PublishError(f"mart table name {name!r} is not a plain identifier; rename it to publish it")
        cols = con.execute(
            """
            select column_name, data_type, comment from duckdb_columns()
            where database_name = current_database() and schema_name = ? and table_name = ?
            order by column_index
            """,
            [SOURCE_SCHEMA, name],
        ).fetchall()
        marts.append(MartTable(name, comment, tuple(MartColumn(*c) for c in cols)))
    return marts


# Comments, dictionary rows, stable types, owned tables ------------------------------------------

def comment_statements(catalog: str, table: str, comment: str | None,
                        column_comments: dict[str, str | None]) -> list[str]:
    target = f"{quote_ident(catalog)}.main.{quote_ident(table)}"
    statements = []
    if comment:
        statements.append(f"comment on table {target} is {quote_literal(comment)}")
    for column, text in column_comments.items():
        if text:
            statements.append(f"comment on column {target}.{quote_ident(column)} is {quote_literal(text)}")
    return statements


def dictionary_rows(tables: Sequence[MartTable]) -> list[tuple[Any, ...]]:
    rows = []
    for table in tables:
        grain, description = split_table_comment(table.comment)
        for ordinal, column in enumerate(table.columns, start=1):
            rows.append((table.name, column.name, ordinal, column.data_type, column.comment, grain, description))
    return rows


def owned_table(name: str, comments: dict[str, Any], columns: Sequence[tuple[str, str]]) -> MartTable:
    return MartTable(name, comments["table"],
                     tuple(MartColumn(c, stable_type(t), comments["columns"][c]) for c, t in columns))


# Published types are stable across versions whatever the data (BI extracts and Parquet datasets that
# span versions need one Arrow type per column): every integer is BIGINT (int64), every float DOUBLE,
# every decimal DECIMAL(38, its scale), every timestamp without zone TIMESTAMP (microseconds); lists
# follow their element type. Everything else is published as the mart has it.
STABLE_INTEGER = "BIGINT"
_INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                            "UINTEGER", "UBIGINT", "UHUGEINT"})
_FLOAT_TYPES = frozenset({"FLOAT", "REAL", "DOUBLE"})
_TIMESTAMP_TYPES = frozenset({"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME"})
_DECIMAL_TYPE = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def stable_type(data_type: str) -> str:
    """The type a column of DuckDB type ``data_type`` is published as (see above)."""
    t = data_type.strip().upper()
    if t.endswith("[]"):
        return stable_type(t[:-2]) + "[]"
    if t in _INTEGER_TYPES:
        return STABLE_INTEGER
    if t in _FLOAT_TYPES:
        return "DOUBLE"
    if t in _TIMESTAMP_TYPES:
        return "TIMESTAMP"
    match = _DECIMAL_TYPE.fullmatch(t)
    if match:
        return f"DECIMAL(38,{match.group(2)})"
    return data_type


def stable_select(mart: MartTable) -> str:
    """The SELECT list that publishes a mart's columns with their stable types."""
    parts = []
    for column in mart.columns:
        target = stable_type(column.data_type)
        name = quote_ident(column.name)
        parts.append(name if target == column.data_type else f"cast({name} as {target}) as {name}")
    return ", ".join(parts) or "*"


def with_stable_types(mart: MartTable) -> MartTable:
    return dataclasses.replace(mart, columns=tuple(dataclasses.replace(c, data_type=stable_type(c.data_type))
                                                   for c in mart.columns))


def create_owned(con: duckdb.DuckDBPyConnection, catalog: str, table: MartTable,
                  rows: Sequence[tuple[Any, ...]]) -> None:
    target = f"{quote_ident(catalog)}.main.{quote_ident(table.name)}"
    cols = ", ".join(f"{quote_ident(c.name)} {c.data_type}" for c in table.columns)
    con.execute(f"create table {target} ({cols})")
    if rows:
        import pyarrow as pa

        frame = pa.table({c.name: [r[i] for r in rows] for i, c in enumerate(table.columns)})
        view = f"_crmwh_rows_{uuid.uuid4().hex[:12]}"
        con.register(view, frame)
        try:
            con.execute(f"insert into {target} select * from {quote_ident(view)}")  # noqa: S608 - identifiers quoted, values bound or literal-quoted
        finally:
            con.unregister(view)
    for statement in comment_statements(catalog, table.name, table.comment,
                                         {c.name: c.comment for c in table.columns}):
        con.execute(statement)


def undocumented(tables: Sequence[MartTable]) -> list[str]:
    warnings = []
    for table in tables:
        grain, _ = split_table_comment(table.comment)
        if grain is None:
            warnings.append(f"{table.name}: table comment has no 'grain: ...'")
        missing = [c.name for c in table.columns if not c.comment]
        if missing:
            warnings.append(f"{table.name}: no description for column(s) {', '.join(missing)}")
    return warnings
