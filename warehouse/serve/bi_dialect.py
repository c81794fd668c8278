"""A SQLAlchemy dialect for BI clients on SQLAlchemy 2: ``duckdb+crmwh:///path/marts.duckdb``.

duckdb-engine (0.17, the newest release) reflects tables through PostgreSQL's catalog queries, and
SQLAlchemy 2.0.45+ (Airflow 3.3 needs >= 2.0.50) asks ``pg_catalog.pg_collation`` for a column DuckDB's
stub of it lacks and casts to ``REGCLASS``, which DuckDB has no type for: ``get_columns()``,
``get_pk_constraint()``, ``get_foreign_keys()`` and with them ``Table(..., autoload_with=engine)``,
``MetaData.reflect()`` and ``pandas.read_sql_table()`` fail (Mause/duckdb_engine#1379, fix pending in
#1393). This dialect is duckdb-engine with reflection answered from DuckDB's own catalog functions
(``duckdb_columns()``, ``duckdb_constraints()``, ``duckdb_tables()``): same connections, same SQL,
same read-only flag. Queries and table lists go through duckdb-engine unchanged.

It is registered as the SQLAlchemy dialect ``duckdb.crmwh`` (an entry point of the crmwh package), so
any SQLAlchemy 2 client in the same environment uses it by URL::

    sqlalchemy.create_engine("duckdb+crmwh:////srv/crm/published/marts.duckdb?access_mode=read_only")

Clients on SQLAlchemy 1.4 (Apache Superset 6.1) use plain ``duckdb:///...``, which reflects fine there.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb_engine
from sqlalchemy import text
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import default
from sqlalchemy.exc import NoSuchTableError

DIALECT_NAME = "duckdb.crmwh"
# DuckDB type names -> the name under which duckdb-engine's (PostgreSQL-derived) ischema_names knows them
TYPE_ALIASES: dict[str, str] = {
    "double": "double precision", "float": "real", "decimal": "numeric", "blob": "bytea",
    "timestamp with time zone": "timestamptz", "time with time zone": "timetz", "bignum": "numeric",
}
_DECIMAL = re.compile(r"(?i)^(decimal|numeric)\s*\((\d+)\s*,\s*(\d+)\)$")


class CrmwhDuckDBDialect(duckdb_engine.Dialect):
    """duckdb-engine, reflecting from DuckDB's catalog functions instead of PostgreSQL's catalog."""

    driver = "crmwh"
    supports_statement_cache = False

    # --- names ----------------------------------------------------------------------------------
    def _where(self, connection: Any, table_name: str, schema: str | None) -> tuple[str, dict[str, str]]:
        database, schema_name = self.identifier_preparer._separate(schema) if schema else (None, None)  # noqa: SLF001
        if database is None:
            database = connection.execute(text("select current_database()")).scalar_one()
        if schema_name is None:
            schema_name = connection.execute(text("select current_schema()")).scalar_one()
        clause = "database_name = :database and schema_name = :schema and table_name = :table"
        return clause, {"database": str(database), "schema": str(schema_name), "table": table_name}

    def _require_table(self, connection: Any, table_name: str, schema: str | None) -> tuple[str, dict[str, str]]:
        clause, params = self._where(connection, table_name, schema)
        found = connection.execute(text(
            f"select count(*) from (select table_name, database_name, schema_name from duckdb_tables() "  # noqa: S608 - constant clause
            f"union all select view_name, database_name, schema_name from duckdb_views()) where {clause}"),
            params).scalar_one()
        if not found:
            raise NoSuchTableError(f"{schema + '.' if schema else ''}{table_name}")
        return clause, params

    # --- types ----------------------------------------------------------------------------------
    def duckdb_type(self, data_type: str) -> sqltypes.TypeEngine:
        """A SQLAlchemy type for a DuckDB type name as ``duckdb_columns()`` spells it."""
        name = data_type.strip()
        if name.endswith("[]"):
            from sqlalchemy.dialects.postgresql import ARRAY

            return ARRAY(self.duckdb_type(name[:-2]))
        match = _DECIMAL.match(name)
        if match:
            return sqltypes.Numeric(int(match.group(2)), int(match.group(3)))
        key = name.lower()
        key = TYPE_ALIASES.get(key, key)
        if key.startswith(("struct", "map", "union")):
            return sqltypes.NullType()
        cls = self.ischema_names.get(key)
        if cls is None:
            return sqltypes.NullType()
        return cls(timezone=True) if key in ("timestamptz", "timetz") else cls()

    # --- reflection -----------------------------------------------------------------------------
    def get_columns(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> list[dict]:
        clause, params = self._require_table(connection, table_name, schema)
        rows = connection.execute(text(
            f"select column_name, data_type, is_nullable, column_default, comment from duckdb_columns() "  # noqa: S608 - constant clause
            f"where {clause} order by column_index"), params).all()
        return [{"name": name, "type": self.duckdb_type(data_type), "nullable": bool(nullable),
                 "default": default_value, "autoincrement": False, "comment": comment}
                for name, data_type, nullable, default_value, comment in rows]

    def _constraints(self, connection: Any, table_name: str, schema: str | None, kind: str) -> list[tuple]:
        clause, params = self._require_table(connection, table_name, schema)
        return connection.execute(text(
            "select constraint_name, constraint_column_names, referenced_table, referenced_column_names, "
            f"expression from duckdb_constraints() where {clause} and constraint_type = :kind "  # noqa: S608 - constant clause
            "order by constraint_index"), {**params, "kind": kind}).all()

    def get_pk_constraint(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> dict:
        rows = self._constraints(connection, table_name, schema, "PRIMARY KEY")
        if not rows:
            return {"name": None, "constrained_columns": []}
        return {"name": rows[0][0], "constrained_columns": list(rows[0][1])}

    def get_foreign_keys(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> list[dict]:
        return [{"name": name, "constrained_columns": list(columns), "referred_schema": schema,
                 "referred_table": referred, "referred_columns": list(referred_columns or []), "options": {}}
                for name, columns, referred, referred_columns, _ in
                self._constraints(connection, table_name, schema, "FOREIGN KEY")]

    def get_unique_constraints(self, connection: Any, table_name: str, schema: str | None = None,
                               **kw: Any) -> list[dict]:
        return [{"name": name, "column_names": list(columns)}
                for name, columns, *_ in self._constraints(connection, table_name, schema, "UNIQUE")]

    def get_check_constraints(self, connection: Any, table_name: str, schema: str | None = None,
                              **kw: Any) -> list[dict]:
        return [{"name": name, "sqltext": expression}
                for name, _, _, _, expression in self._constraints(connection, table_name, schema, "CHECK")]

    def get_table_comment(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> dict:
        clause, params = self._require_table(connection, table_name, schema)
        comment = connection.execute(text(
            f"select comment from (select table_name, database_name, schema_name, comment from duckdb_tables() "  # noqa: S608 - constant clause
            f"union all select view_name, database_name, schema_name, comment from duckdb_views()) where {clause}"),
            params).scalar()
        return {"text": comment}

    def get_indexes(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> list[dict]:
        clause, params = self._require_table(connection, table_name, schema)
        rows = connection.execute(text(
            f"select index_name, is_unique, expressions from duckdb_indexes() where {clause} "  # noqa: S608 - constant clause
            "order by index_name"), params).all()
        return [{"name": name, "unique": bool(unique),
                 "column_names": [c.strip() for c in (expressions or "").strip("[]").split(",") if c.strip()]}
                for name, unique, expressions in rows]

    def get_table_options(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> dict:
        return {}

    # SQLAlchemy 2 reflects whole tables through the get_multi_* methods, which PostgreSQL's dialect
    # answers with catalog queries of its own: route them through the single-table methods above.
    get_multi_columns = default.DefaultDialect.get_multi_columns
    get_multi_pk_constraint = default.DefaultDialect.get_multi_pk_constraint
    get_multi_foreign_keys = default.DefaultDialect.get_multi_foreign_keys
    get_multi_unique_constraints = default.DefaultDialect.get_multi_unique_constraints
    get_multi_check_constraints = default.DefaultDialect.get_multi_check_constraints
    get_multi_table_comment = default.DefaultDialect.get_multi_table_comment
    get_multi_table_options = default.DefaultDialect.get_multi_table_options
    get_multi_indexes = default.DefaultDialect.get_multi_indexes


def register() -> None:
    """Register the dialect in this process (the package's entry point does it for every process)."""
    from sqlalchemy.dialects import registry

    registry.register(DIALECT_NAME, __name__, "CrmwhDuckDBDialect")


dialect = CrmwhDuckDBDialect
