"""Staging: ``raw`` -> ``staging.stg_<source>__<entity>`` (typed with TRY_CAST, trimmed, linked to raw).

Staging keeps the source's column names (dbt style: rename-free, cast and trim only) so validation
suites and quarantine speak the source's language; every row carries ``_batch_id``, ``_source_row`` and
``_source``, which name its record in ``raw``. A value that does not parse becomes NULL; validation
quarantines the row because the raw record still holds the text (file drops and replayed rows also
keep it in ``_raw``, the JSON text of the record; a CRM row's ``_raw`` is NULL).

De-duplication by business key (latest ``updated_at`` wins) across batches of the CRM tables: staging
a batch removes the older versions of its keys that belong to batches already loaded, so between runs a
staging table holds one current row per key. Rows inside one file drop are never de-duplicated here:
validation's "business key unique" rule quarantines repeats.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

import duckdb

from warehouse.foundation.db import column_types, read_sql, table_exists
from warehouse.foundation.errors import CrmwhError
from warehouse.foundation.pii import install_pii_macros
from warehouse.foundation.run_relations import create_run_relations
from warehouse.foundation.settings import Settings
from warehouse.foundation.sqltext import quote_literal
from warehouse.ingest.quarantine import checked_identifier, raw_columns, raw_record_sql
from warehouse.ingest.source_contract import PRIMARY_KEYS, metadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchInfo:
    batch_id: str
    source: str
    entity: str
    source_kind: str
    staging_table: str
    profile: str | None
    status: str


def batch_info(con: duckdb.DuckDBPyConnection, batch_ids: list[str]) -> list[BatchInfo]:
    """The audit rows of these batches (in the given order); unknown ids are an error."""
    if not batch_ids:
        return []
    rows = con.execute(
        "select batch_id, source, entity, source_kind, staging_table, profile, status "
        "from audit.load_batches where batch_id in (select unnest(?))", [batch_ids]).fetchall()
    found = {r[0]: BatchInfo(*r) for r in rows}
    missing = [b for b in batch_ids if b not in found]
    if missing:
        raise CrmwhError(f"unknown batch id(s): {', '.join(missing)}")
    return [found[b] for b in batch_ids]


def crm_staging_sql(con: duckdb.DuckDBPyConnection, settings: Settings, entity: str, *,
                    with_raw_record: bool = False) -> str:
    """The staging SELECT of a CRM entity. ``_raw`` is NULL: the record as read stays in ``raw`` under
    the same ``(_batch_id, _source_row)`` (a JSON copy of every row was half the staging time); only
    replayed rows, which get new row numbers, carry it (``with_raw_record``)."""
    sql = read_sql(f"staging/stg_crm__{checked_identifier(entity)}.sql")
    fold = "upper" if settings.ingest.crm_codes_case_insensitive else ""
    record = raw_record_sql(raw_columns(con, f"crm__{entity}")) if with_raw_record else "null::varchar"
    install_pii_macros(con, settings)  # free text is masked for personal data (warehouse/foundation/pii.py)
    return (sql.replace("{raw_record}", record).replace("{fold_code}", fold)
            .replace("{reporting_currency}", quote_literal(settings.currency.reporting_currency)))


def _write_staging(con: duckdb.DuckDBPyConnection, table: str, select_sql: str,
                   params: dict | None = None, *, empty: bool = False) -> None:
    if not table_exists(con, f"staging.{table}"):
        # DuckDB 2.0: a table created in the transaction that then bulk-inserts more than a row group
        # answers filtered reads with no rows; so the (empty) table is committed on its own first
        # (not needed when nothing will be inserted: ``empty``)
        if not empty:
            con.execute("commit")
        con.execute(f"create table staging.{table} as select * from ({select_sql}) limit 0", params or {})
        _note_sql_version(con, table, select_sql)  # made from this SQL: it has every column the SQL makes
        if empty:
            return  # a new table and nothing to put in it
        con.execute("begin transaction")
    else:
        _add_new_columns(con, table, select_sql, params)
    con.execute(f"delete from staging.{table} where _batch_id in (select batch_id from _stage_batches)")
    con.execute(f"insert into staging.{table} by name select * from ({select_sql})", params or {})


def _add_new_columns(con: duckdb.DuckDBPyConnection, table: str, select_sql: str, params: dict | None) -> None:
    """Columns a newer staging SQL produces that the stored staging table (made by an older version)
    lacks are added (NULL for the rows staged before), so ``insert by name`` keeps working. Checked once
    per version of the SQL text (``staging._crmwh_sql_versions``): planning it again costs every run."""
    digest = _sql_digest(select_sql)
    known = con.execute("select sql_md5 from staging._crmwh_sql_versions where table_name = ? and sql_md5 = ?",
                        [table, digest]).fetchone()
    if known:
        return
    described = con.execute(f"describe select * from ({select_sql})", params or {}).fetchall()
    existing = column_types(con, f"staging.{table}")
    for name, dtype, *_ in described:
        if name not in existing:
            con.execute(f'alter table staging.{table} add column "{name}" {dtype}')
    _note_sql_version(con, table, select_sql)


def _sql_digest(select_sql: str) -> str:
    return hashlib.md5(select_sql.encode("utf-8")).hexdigest()  # noqa: S324 - a change detector, not security


def _note_sql_version(con: duckdb.DuckDBPyConnection, table: str, select_sql: str) -> None:
    """Record that ``staging.<table>`` has every column this version of its SQL produces."""
    con.execute("insert into staging._crmwh_sql_versions values (?, ?)", [table, _sql_digest(select_sql)])


def stage_crm_entity(con: duckdb.DuckDBPyConnection, settings: Settings, entity: str, batch_ids: list[str]) -> None:
    """Stage the CRM batches of one entity (caller's transaction)."""
    table = f"stg_crm__{entity}"
    assert entity in metadata.tables
    create_run_relations(con, "stage", batch_ids)
    empty = not con.execute(f"select exists (select 1 from raw.crm__{checked_identifier(entity)} "  # noqa: S608
                            "where _batch_id in (select batch_id from _stage_batches))").fetchall()[0][0]
    _write_staging(con, table, crm_staging_sql(con, settings, entity), empty=empty)
    # the versions this batch supersedes are dropped only when it is loaded (drop_superseded): a new
    # version that validation then quarantines must not take the last valid one out of staging


def drop_superseded(con: duckdb.DuckDBPyConnection, batch_ids: list[str]) -> None:
    """Latest ``updated_at`` per business key wins: drop the older versions that batches loaded before
    left in staging (caller's transaction; called when ``batch_ids`` are loaded, after validation
    moved their bad rows to quarantine, so only valid versions supersede)."""
    with_rows = {r[0] for r in con.execute(
        "select distinct entity from audit.load_batches where batch_id in (select unnest(?::varchar[])) "
        "and rows_read > 0", [batch_ids]).fetchall()}
    for entity, key in PRIMARY_KEYS.items():
        table = f"stg_crm__{entity}"
        if entity not in with_rows or not table_exists(con, f"staging.{table}"):  # nothing new supersedes
            continue
        older = con.execute(f"select exists (select 1 from staging.{table} where _batch_id not in "  # noqa: S608
                            "(select unnest(?::varchar[])))", [batch_ids]).fetchone()[0]
        if not older:  # only these batches' rows are staged (a first load): nothing is left to supersede
            continue
        con.execute(
            f"""delete from staging.{table} where rowid in (
                    select s.rowid from staging.{table} s
                    join (select {key}, max(updated_at) as newest from staging.{table}
                          where _batch_id in (select unnest($ids::varchar[])) group by {key}) n
                      on n.{key} = s.{key}
                    where s.updated_at <= n.newest
                      and s._batch_id not in (select unnest($ids::varchar[]))
                      and s._batch_id in (select batch_id from audit.load_batches where status = 'succeeded'))""",
            {"ids": batch_ids})


def stage_file_batch(con: duckdb.DuckDBPyConnection, settings: Settings, batch: BatchInfo) -> None:
    """Stage one file-drop batch with the profile it was read with (caller's transaction); its lines'
    keys go to ``staging.stg_files__line_keys`` (what this version of its delivery delivered)."""
    from warehouse.ingest.file_staging import file_staging_sql

    sql, params = file_staging_sql(con, settings, batch.batch_id, batch.profile)
    create_run_relations(con, "stage", [batch.batch_id])
    _write_staging(con, "stg_files__sales_lines", sql, params)
    con.execute("delete from staging.stg_files__line_keys where _batch_id = ?", [batch.batch_id])
    con.execute("insert into staging.stg_files__line_keys select _batch_id, _source_row, sales_line_id "
                "from staging.stg_files__sales_lines where _batch_id = ?", [batch.batch_id])


def _mark_file_failed(con: duckdb.DuckDBPyConnection, batch_id: str, exc: BaseException) -> None:
    """A file batch whose staging failed is marked failed on its own; the run's other batches go on."""
    message = f"{type(exc).__name__}: {exc}"[:2000]
    con.execute("update audit.load_batches set status = 'failed', error = ?, finished_at = ? "
                "where batch_id = ? and status = 'running'", [message, datetime.now(), batch_id])
    con.execute("update audit.file_registry set status = 'failed' where batch_id = ? and status = 'running'",
                [batch_id])
    log.warning("file batch %s failed in staging: %s", batch_id, message)


def _check_staged(con: duckdb.DuckDBPyConnection, raw_table: str, staging_table: str, batch_ids: list[str]) -> None:
    """Every raw row of the batches is in staging (staging never drops or adds a row)."""
    raw, staged = con.execute(
        f"""select (select count(*) from raw.{raw_table} where _batch_id in (select unnest($ids::varchar[]))),
                   (select count(*) from staging.{staging_table} where _batch_id in (select unnest($ids::varchar[])))""",
        {"ids": batch_ids}).fetchall()[0]
    if raw != staged:
        raise CrmwhError(f"staging {staging_table} holds {staged} rows of batch(es) {', '.join(batch_ids)}, "
                         f"raw.{raw_table} {raw}: refusing to continue")


def empty_database_batches(con: duckdb.DuckDBPyConnection, batch_ids: list[str]) -> list[str]:
    """The CRM batches that read no row and whose staging table exists already: nothing to stage or
    validate (each step still marks them, so their accounting closes as 0 = 0 + 0)."""
    if not batch_ids:
        return []
    rows = con.execute(
        """select b.batch_id from audit.load_batches b
           join duckdb_tables() t on t.schema_name = 'staging' and t.table_name = b.staging_table
           where b.batch_id in (select unnest(?::varchar[])) and b.source_kind = 'database' and b.rows_read = 0""",
        [batch_ids]).fetchall()
    return [r[0] for r in rows]


def stage_batches(con: duckdb.DuckDBPyConnection, settings: Settings, batch_ids: list[str]) -> list[str]:
    """Stage every batch still to be staged; returns the staged batch ids.

    One transaction per staging table (re-staging a batch replaces its rows, so a step cut short is
    simply run again); each commits only after its row count is checked against ``raw``. Batches that
    read nothing are only marked staged (their staging table exists from an earlier run)."""
    infos = [b for b in batch_info(con, batch_ids) if b.status == "running"]
    empty = set(empty_database_batches(con, [b.batch_id for b in infos]))
    if empty:
        con.execute("update audit.load_batches set step = 'staged' where batch_id in (select unnest(?))",
                    [sorted(empty)])
    if infos:
        from warehouse.ingest.currency import refresh_rates

        refresh_rates(con, settings)  # the declared exchange rates, as staging attaches them
    by_entity: dict[str, list[str]] = {}
    for b in infos:
        if b.batch_id in empty:
            continue
        if b.source_kind == "database":
            by_entity.setdefault(b.entity, []).append(b.batch_id)
    work: list[tuple[str, str, list[str], object]] = [
        (f"crm__{entity}", f"stg_crm__{entity}", ids,
         lambda entity=entity, ids=ids: stage_crm_entity(con, settings, entity, ids))
        for entity, ids in by_entity.items()]
    work += [("files__sales_lines", "stg_files__sales_lines", [b.batch_id],
              lambda b=b: stage_file_batch(con, settings, b)) for b in infos if b.source_kind != "database"]
    failed: set[str] = set()
    for raw_table, staging_table, ids, step in work:
        con.execute("begin transaction")
        try:
            step()  # type: ignore[operator]
            _check_staged(con, raw_table, staging_table, ids)
            con.execute("update audit.load_batches set step = 'staged' where batch_id in (select unnest(?))",
                        [ids])
            con.execute("commit")
        except Exception as exc:
            con.execute("rollback")
            if raw_table != "files__sales_lines":
                raise
            # poison isolation: one file drop that cannot be staged fails alone
            _mark_file_failed(con, ids[0], exc)
            failed.add(ids[0])
        except BaseException:
            con.execute("rollback")
            raise
    return [b.batch_id for b in infos if b.batch_id not in failed]
