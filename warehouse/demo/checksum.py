"""Checksums of the source tables, comparable across databases (same data => same checksum)."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from warehouse.ingest import source_contract as schema


def _normal(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, Decimal | float):
        return f"{Decimal(str(value)).quantize(Decimal('0.01'))}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def table_checksums(url: str, tables: tuple[str, ...] = schema.SOURCE_TABLES) -> dict[str, str]:
    """SHA-256 of every table's rows in primary-key order, values normalized across backends."""
    engine = sa.create_engine(url)
    out: dict[str, str] = {}
    try:
        with engine.connect() as conn:
            for name in tables:
                table = schema.metadata.tables[name]
                pk = table.c[schema.PRIMARY_KEYS[name]]
                digest = hashlib.sha256()
                result = conn.execution_options(yield_per=50_000).execute(sa.select(table).order_by(pk))
                for row in result:
                    digest.update("\x1f".join(_normal(v) for v in row).encode())
                    digest.update(b"\x1e")
                out[name] = digest.hexdigest()
    finally:
        engine.dispose()
    return out
