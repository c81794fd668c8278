"""Quarantined rows: list them, and replay them (re-validate, load those that now pass).

A quarantined row keeps its batch id and source row number, and its raw record stays in ``raw``. Replay
re-stages those raw rows with the same staging SQL as the first time, under a new batch id
(``replay.<table>.<stamp>``), and validates them with the table's suite as it stands now (a product that
arrived since resolves now). Rows that pass are loaded through the ETL's load functions and their
quarantine rows are marked ``replayed_at``/``replay_batch_id`` (kept as history, no longer counted);
rows that still fail stay quarantined with their refreshed rules and reason.

Accounting: the original batch's ``rows_quarantined`` drops and its ``rows_loaded`` rises by the rows
replayed out of it, so rows read = loaded + quarantined keeps holding per original batch. The replay
batch itself is recorded in ``audit.load_batches`` with ``source_kind = 'replay'`` and ``rows_read`` =
the rows it loaded (re-reads of rows the original batches already counted as read).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from warehouse.foundation.db import column_types, table_exists
from warehouse.foundation.errors import CrmwhError
from warehouse.foundation.run_relations import create_run_relations
from warehouse.foundation.settings import Settings, replace_settings
from warehouse.ingest.quarantine import checked_identifier, ensure_quarantine_table, raw_table_of

REPLAY_PREFIX = "replay"


@dataclass
class ReplayResult:
    table: str
    replay_batch_id: str | None
    candidates: int = 0
    loaded: int = 0
    still_quarantined: int = 0
    per_batch: dict[str, int] = field(default_factory=dict)  # original batch -> rows replayed out of it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quarantine_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'quarantine' order by 1").fetchall()]


def list_quarantined(con: duckdb.DuckDBPyConnection, table: str | None = None, *, include_replayed: bool = False,
                     limit: int | None = None) -> list[dict[str, Any]]:
    """Quarantined rows (newest first) with their table, batch, row, rules, reason and raw record."""
    tables = [checked_identifier(table)] if table else quarantine_tables(con)
    if table and table not in quarantine_tables(con):
        raise CrmwhError(f"no quarantine table for {table} (known: {', '.join(quarantine_tables(con)) or 'none'})")
    rows: list[dict[str, Any]] = []
    for t in tables:
        where = "" if include_replayed else "where replayed_at is null"
        for r in con.execute(
                f"select _batch_id, _source_row, _source, rules, reason, raw_record, quarantined_at, replayed_at, "  # noqa: S608
                f"replay_batch_id from quarantine.{t} {where} order by quarantined_at desc, _batch_id, _source_row"
                ).fetchall():
            rows.append({"table": t, "batch_id": r[0], "source_row": r[1], "source": r[2], "rules": list(r[3]),
                         "reason": r[4], "raw_record": r[5], "quarantined_at": r[6], "replayed_at": r[7],
                         "replay_batch_id": r[8]})
    rows.sort(key=lambda r: r["quarantined_at"], reverse=True)
    return rows[:limit] if limit else rows


# file batches whose delivery has a newer loaded version (their quarantined lines are history)
SUPERSEDED_FILE_BATCHES = """
    select o.batch_id from audit.load_batches o join audit.load_batches n
      on n.source_kind = 'file' and n.delivery = o.delivery and n.profile = o.profile and n.status = 'succeeded'
     and (n.started_at, n.batch_id) > (o.started_at, o.batch_id)
    where o.source_kind = 'file' and o.delivery is not null"""


def _staged_sql(con: duckdb.DuckDBPyConnection, settings: Settings, table: str, raw_table: str,
                profile: str | None) -> tuple[str, dict[str, Any] | None]:
    """The staging SELECT of ``table`` reading ``_replay_raw`` instead of the raw table."""
    from warehouse.ingest import staging as staging_mod

    if table.startswith("stg_crm__"):
        entity = table[len("stg_crm__"):]
        sql = staging_mod.crm_staging_sql(con, settings, entity, with_raw_record=True)
        return sql.replace(f"raw.{raw_table}", "_replay_raw"), None
    if table == "stg_files__sales_lines":
        from warehouse.ingest.file_staging import file_staging_sql

        # ``profile`` is the original batch here: each is re-staged with the profile it was read with
        sql, params = file_staging_sql(con, settings, profile or "", None)
        return sql.replace(f"raw.{raw_table}", "_replay_raw"), params
    raise CrmwhError(f"do not know how to re-stage {table}")


def replay_table(con: duckdb.DuckDBPyConnection, settings: Settings, table: str,
                 *, load: bool = True) -> ReplayResult:
    """Re-validate the quarantined rows of ``table`` and load those that pass (caller's transaction)."""
    from warehouse.quality.validation import validate_staged

    table = checked_identifier(table)
    quarantine = ensure_quarantine_table(con, table)
    # rows of a file version that a corrected re-delivery replaced are not replayed (warehouse.ingest.file_deliveries)
    waiting = "replayed_at is null" + (f" and _batch_id not in ({SUPERSEDED_FILE_BATCHES})"
                                       if table == "stg_files__sales_lines" else "")
    pending = con.execute(f"select count(*) from {quarantine} where {waiting}").fetchone()[0]  # noqa: S608
    result = ReplayResult(table, None)
    if not pending:
        return result
    raw_table = raw_table_of(table)
    if raw_table is None:
        raise CrmwhError(f"do not know how to re-stage {table}")
    if not table_exists(con, f"raw.{raw_table}"):
        raise CrmwhError(f"raw.{raw_table} does not exist: the quarantined rows of {table} cannot be re-staged")
    stamp = datetime.now()
    replay_id = f"{REPLAY_PREFIX}.{table}.{stamp.strftime('%Y%m%dT%H%M%S')}.{uuid.uuid4().hex[:8]}"
    result.replay_batch_id = replay_id
    # one new row number per quarantined row, mapped back to its original (batch, row)
    con.execute(f"""create or replace temp table _replay_map as
        select row_number() over (order by _batch_id, _source_row) as new_row, _batch_id as orig_batch,
               _source_row as orig_row
        from {quarantine} where {waiting}""")  # noqa: S608
    con.execute(f"""create or replace temp table _replay_raw as
        select r.* from raw.{raw_table} r join _replay_map m on r._batch_id = m.orig_batch and r._source_row = m.orig_row""")  # noqa: S608
    missing = con.execute("select count(*) from _replay_map m where not exists (select 1 from _replay_raw r "
                          "where r._batch_id = m.orig_batch and r._source_row = m.orig_row)").fetchone()[0]
    if missing:
        raise CrmwhError(f"{missing} quarantined row(s) of {table} no longer have their raw record in raw.{raw_table}")
    profiles: list[str | None] = [None]  # file drops: one staging per original batch (its own profile)
    if table == "stg_files__sales_lines":
        profiles = [r[0] for r in con.execute("select distinct _batch_id from _replay_raw order by 1").fetchall()]
    staging_cols = list(column_types(con, f"staging.{table}"))
    if not staging_cols:
        raise CrmwhError(f"staging.{table} does not exist: run the pipeline once before replaying")
    create_run_relations(con, "stage", [r[0] for r in con.execute(
        "select distinct orig_batch from _replay_map order by 1").fetchall()])
    for profile in profiles:
        sql, params = _staged_sql(con, settings, table, raw_table, profile)
        filt = "" if profile is None else "where _batch_id = " + "'" + profile.replace("'", "''") + "'"
        _insert_restaged(con, table, sql, filt, replay_id, params)
    result.candidates = int(pending)
    # no Data Docs for a replay (GE would judge uniqueness without the rows already loaded)
    quiet = replace_settings(settings, validation={"data_docs_enabled": False})
    outcome = validate_staged(con, quiet, table, replay_id, replay=True)
    # rows that still fail: refresh the original quarantine row, drop the replay copy
    con.execute(f"""update {quarantine} q set rules = n.rules, reason = n.reason
        from {quarantine} n join _replay_map m on n._source_row = m.new_row
        where n._batch_id = ? and q._batch_id = m.orig_batch and q._source_row = m.orig_row""",  # noqa: S608
                [replay_id])
    con.execute(f"delete from {quarantine} where _batch_id = ?", [replay_id])  # noqa: S608
    result.still_quarantined = outcome.rows_quarantined
    passed = con.execute(f"""select m.orig_batch, count(*) from staging.{table} s join _replay_map m
        on s._source_row = m.new_row where s._batch_id = ? group by 1""", [replay_id]).fetchall()  # noqa: S608
    result.per_batch = {b: int(n) for b, n in passed}
    result.loaded = sum(result.per_batch.values())
    if not result.loaded:
        con.execute(f"delete from staging.{table} where _batch_id = ?", [replay_id])  # noqa: S608
        result.replay_batch_id = None
        con.execute("delete from audit.validation_results where batch_id = ?", [replay_id])
        return result
    con.execute(f"""update {quarantine} q set replayed_at = ?, replay_batch_id = ?
        from staging.{table} s join _replay_map m on s._source_row = m.new_row
        where s._batch_id = ? and q._batch_id = m.orig_batch and q._source_row = m.orig_row""",  # noqa: S608
                [stamp, replay_id, replay_id])
    entity = "sales_lines" if table == "stg_files__sales_lines" else table[len("stg_crm__"):]
    con.execute("""insert into audit.load_batches (batch_id, source, entity, source_kind, started_at, rows_read,
                   status, step, staging_table) values (?, ?, ?, 'replay', ?, ?, 'running', 'validated', ?)""",
                [replay_id, REPLAY_PREFIX, entity, stamp, result.loaded, table])
    for batch, n in result.per_batch.items():
        con.execute("update audit.load_batches set rows_loaded = rows_loaded + ?, rows_quarantined = "
                    "rows_quarantined - ? where batch_id = ?", [n, n, batch])
    if load:
        from warehouse.core import load as load_mod

        load_mod.load_dimensions_in(con, settings, [replay_id])
        load_mod.load_facts_in(con, settings, [replay_id], None)
    return result


def _insert_restaged(con: duckdb.DuckDBPyConnection, table: str, sql: str, filt: str, replay_id: str,
                     params: dict[str, Any] | None) -> None:
    con.execute("create or replace temp table _replay_staged as select * from (" + sql + ") " + filt, params)
    con.execute(f"""insert into staging.{table} by name
        select s.* replace (?::varchar as _batch_id, m.new_row::bigint as _source_row)
        from _replay_staged s join _replay_map m on s._batch_id = m.orig_batch and s._source_row = m.orig_row""",  # noqa: S608
                [replay_id])


def replay(settings: Settings, table: str | None = None) -> list[ReplayResult]:
    """Replay every quarantine table (or one) under the writer lock, each in one transaction."""
    from warehouse.foundation.db import transaction, warehouse_writer

    results = []
    with warehouse_writer(settings) as con:
        tables = [checked_identifier(table)] if table else quarantine_tables(con)
        if table and table not in quarantine_tables(con):
            raise CrmwhError(f"no quarantine table for {table}")
        for t in tables:
            with transaction(con):
                results.append(replay_table(con, settings, t))
    return results

