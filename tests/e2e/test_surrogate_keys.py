"""Surrogate keys depend on the data, never on the order in which DuckDB happens to scan it."""

from __future__ import annotations

import duckdb
import sqlalchemy as sa
from ingest_support import build_source

from warehouse.core.load import CHANNELS
from warehouse.foundation.settings import Settings
from warehouse.ops import pipeline


def test_new_keys_follow_the_business_id_not_the_scan_order(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    build_source(settings.source_url)
    # the source lists its employees with their codes in descending order: E0004 is scanned first
    engine = sa.create_engine(settings.source_url)
    with engine.begin() as conn:
        conn.execute(sa.text("update employees set employee_code = 'E' || printf('%04d', 5 - employee_id)"))
    engine.dispose()
    pipeline.run(settings, pipeline.Interval.parse(None, "2024-06-01"))
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        employees = con.execute("select employee_id from core.dim_employee order by employee_key").fetchall()
        channels = con.execute("select channel_code from core.dim_channel where channel_key > 0 "
                               "order by channel_key").fetchall()
    finally:
        con.close()
    assert [e[0] for e in employees] == ["E0001", "E0002", "E0003", "E0004"]
    known = [c[0] for c in channels][: len(CHANNELS)]
    assert known == list(CHANNELS)[: len(known)]
