"""Quoting names and texts into SQL text: the one identifier quoter and the one literal quoter of
``warehouse`` (DuckDB, PostgreSQL and SQLite all quote this way)."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A quoted SQL identifier (``"a""b"``): for every name that is not a constant of the code."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A quoted SQL text literal (``'it''s'``), where a value cannot be a bound parameter."""
    return "'" + value.replace("'", "''") + "'"
