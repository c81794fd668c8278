"""The bulk loader: SQLite text timestamps as SQLAlchemy writes them, exact decimals, ADBC = Core path."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect

from warehouse.demo.checksum import table_checksums
from warehouse.demo.generator import GenerateOptions, build_dataset, write_dataset
from warehouse.demo.writer import NULL_TS, cents_as_decimal, dates_as_sqlite_text, timestamps_as_sqlite_text
from warehouse.ingest import source_contract as schema


def test_sqlite_timestamp_text_matches_sqlalchemy_and_arrow() -> None:
    seconds = np.array([0, 1_735_689_599, 951_782_400, NULL_TS, 4_102_444_799], dtype=np.int64)
    text = timestamps_as_sqlite_text(seconds).to_pylist()
    dialect = sqlite_dialect.dialect()
    processor = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
    for s, t in zip(seconds.tolist(), text, strict=True):
        if s == NULL_TS:
            assert t is None
        else:
            assert t == processor(dt.datetime(1970, 1, 1) + dt.timedelta(seconds=s))
    rng = np.random.default_rng(0)
    many = rng.integers(0, 4_000_000_000, size=5_000)
    reference = pc.strftime(many.astype("datetime64[s]"), format="%Y-%m-%d %H:%M:%S.000000").to_pylist()
    assert timestamps_as_sqlite_text(many).to_pylist() == reference
    assert dates_as_sqlite_text(np.array([20_453, NULL_TS])).to_pylist() == ["2025-12-31", None]


def test_cents_become_exact_decimals() -> None:
    cents = np.array([0, 1, -1, 123_456_789, -99_999_999_999, 5], dtype=np.int64)
    values = cents_as_decimal(cents).to_pylist()
    assert values == [Decimal(int(c)).scaleb(-2) for c in cents.tolist()]


def test_core_executemany_path_writes_the_same_rows_as_adbc(tmp_path: Path) -> None:
    data = build_dataset(GenerateOptions(scale="small", seed=8))
    adbc_url = f"sqlite:///{tmp_path / 'adbc.sqlite'}"
    core_url = f"sqlite:///{tmp_path / 'core.sqlite'}"
    write_dataset(data, adbc_url, None)
    write_dataset(data, core_url, None, use_adbc=False)
    tables = ("customers", "orders", "payments", "service_tickets")
    assert table_checksums(core_url, tables) == table_checksums(adbc_url, tables)
    engine = sa.create_engine(core_url)
    with engine.connect() as conn:
        raw = conn.execute(sa.text("select updated_at from orders limit 1")).scalar()
        n = conn.execute(sa.select(sa.func.count()).select_from(schema.orders)).scalar()
    engine.dispose()
    assert len(raw) == 26 and n == len(data.tables["orders"]["order_id"])
