"""Shared helpers of the reliability suite (issue 7): a tiny demo source, whole-warehouse checksums and
the pipeline entry point the crash trials run in a child process.

Checksums are order-independent (``sum(hash(row))`` plus the row count) over every column of every
table in ``core``, ``analytics`` and ``marts`` and of the published file, except the columns listed in
``RUN_METADATA`` (each with the reason it is run metadata by definition, not data).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from warehouse.demo import config as demo_config
from warehouse.foundation.settings import Settings

# Columns that say *which run* wrote a row or *when*, not what the data is. A rerun must change
# nothing else. Keyed by (schema, table) -> columns; "*" means every table of the schema.
RUN_METADATA: dict[tuple[str, str], tuple[str, ...]] = {
    # the load batch that last wrote the row: a fresh uuid per batch by design (lineage). A rerun that
    # rewrites nothing keeps the old id; a run after a crash, or the uninterrupted baseline run in
    # another data directory, necessarily has other batch ids.
    ("core", "*"): ("_batch_id",),
    # wall-clock time the churn model was fitted
    ("analytics", "model_card"): ("trained_at",),
    # the published manifest names the run and the version folder (UTC publish time + run id) and
    # when it was published; its row counts and interval stay in the checksum
    ("published", "publish_manifest"): ("run_id", "version", "published_at"),
}

SCHEMAS = ("core", "analytics", "marts")
# The demo's smallest built-in scale is 2,000 customers; the reliability suite uses a tinier one so
# twenty crash trials fit in about two minutes. Same generator, same dirt, same advance logic.
TINY = demo_config.ScaleSpec("tiny", customers=80, orders=200, tickets=80, interactions=100,
                             sales_reps=3, service_agents=3)
TINY_END = dt.date(2025, 12, 31)


def excluded(schema: str, table: str) -> tuple[str, ...]:
    return RUN_METADATA.get((schema, "*"), ()) + RUN_METADATA.get((schema, table), ())


def _table_checksum(con: duckdb.DuckDBPyConnection, catalog_schema: str, schema_key: str, table: str,
                    ) -> tuple[int, int]:
    catalog, _, schema = catalog_schema.rpartition(".")
    where = "table_name = ? and schema_name = ?" + (" and database_name = ?" if catalog else "")
    params = [table, schema] + ([catalog] if catalog else [])
    columns = [r[0] for r in con.execute(
        f"select column_name from duckdb_columns() where {where} order by column_index", params).fetchall()]
    keep = [c for c in columns if c not in excluded(schema_key, table)]
    quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in keep)
    n, h = con.execute(f'select count(*), coalesce(sum(hash({quoted}))::hugeint, 0) '
                       f'from {catalog_schema}."{table}"').fetchone()
    return int(n), int(h)


def warehouse_checksums(path: Path | str, schemas: tuple[str, ...] = SCHEMAS) -> dict[str, tuple[int, int]]:
    """``{schema.table: (rows, checksum)}`` for every table of ``schemas`` in the working warehouse."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name in "
            "(select unnest(?::varchar[])) order by 1, 2", [list(schemas)]).fetchall()
        return {f"{s}.{t}": _table_checksum(con, s, s, t) for s, t in tables}
    finally:
        con.close()


def published_checksums(settings: Settings) -> dict[str, tuple[int, int]]:
    """The same over the published file (tables in its main schema)."""
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where database_name = 'marts' order by 1").fetchall()]
        return {f"published.{t}": _table_checksum(con, "marts.main", "published", t) for t in tables}
    finally:
        con.close()


def all_checksums(settings: Settings) -> dict[str, tuple[int, int]]:
    sums = warehouse_checksums(settings.warehouse_path)
    if settings.published_path.exists():
        sums.update(published_checksums(settings))
    return sums


def diff(a: dict[str, tuple[int, int]], b: dict[str, tuple[int, int]]) -> dict[str, tuple]:
    """Tables whose (rows, checksum) differ, with both values; {} when identical."""
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def generate_tiny_demo(settings: Settings, *, seed: int = 42, history_days: int = 240) -> None:
    """The demo source at the tiny scale (registered in the generator's scale table for this process)."""
    from warehouse.demo import generator

    demo_config.SCALES.setdefault("tiny", TINY)
    opts = generator.GenerateOptions(scale="tiny", seed=seed, end_date=TINY_END, history_days=history_days)
    generator.generate(settings.source_url, settings.ground_truth_path, opts, force=True)


def business_clock(settings: Settings) -> dt.datetime:
    import sqlalchemy as sa

    from warehouse.demo.state import read_state

    engine = sa.create_engine(settings.source_url)
    try:
        return read_state(engine).business_clock
    finally:
        engine.dispose()


def advance_demo(settings: Settings, days: int) -> dt.datetime:
    from warehouse.demo.advance import advance

    advance(settings.source_url, settings.ground_truth_path, days)
    return business_clock(settings)


def run_interval(settings: Settings, end: dt.datetime, run_id: str, *, start: dt.datetime | None = None) -> dict:
    """What one scheduled interval does: ``crm_ingest`` (``pipeline.run``) then ``crm_analytics``
    (``run_analytics``) with the interval's end as cut-off and as-of (the day after the clock)."""
    from warehouse.ops import pipeline
    from warehouse.ops.analytics_pipeline import run_analytics

    summary = pipeline.run(settings, pipeline.Interval(start, end), run_id=run_id)
    as_of = (end + dt.timedelta(days=1)).date()
    analytics = run_analytics(settings, run_id, as_of, (start, end))
    return {"ingest": summary, "analytics": analytics}
