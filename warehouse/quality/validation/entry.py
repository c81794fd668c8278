"""The entry points: a staged batch (:func:`validate_staged`: quarantine, results, a critical failure
refuses the batch) and a core table after a load (:func:`validate_core`: nothing moves, a critical
failure rolls the load back)."""

from __future__ import annotations

import logging

import duckdb

from warehouse.core.core_writes import written_scope
from warehouse.foundation.errors import CriticalValidationError
from warehouse.foundation.settings import Settings
from warehouse.ingest.quarantine import checked_identifier, ensure_quarantine_table
from warehouse.quality.data_docs_site import render_site_if_enabled
from warehouse.quality.suites import UNIQUE_TYPES, Suite, load_suite
from warehouse.quality.validation.check import build_check_relation, drop_work_tables
from warehouse.quality.validation.evaluate import evaluate
from warehouse.quality.validation.ge_run import run_great_expectations
from warehouse.quality.validation.quarantine_rows import quarantine_failures
from warehouse.quality.validation.results import ValidationOutcome, ensure_results_table, record_results

log = logging.getLogger(__name__)
WRITTEN_ROWS = "_core_written_rows"  # temp view: the rows of a core table the load wrote (validate_core)


def in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """True inside an explicit transaction (two statements then share one transaction id)."""
    first = con.execute("select txid_current()").fetchone()[0]
    return con.execute("select txid_current()").fetchone()[0] == first


def _begin(con: duckdb.DuckDBPyConnection) -> bool:
    """Start a transaction unless the caller already holds one; True when we own it."""
    if in_transaction(con):
        return False
    con.execute("begin transaction")
    return True


def validate_staged(con: duckdb.DuckDBPyConnection, settings: Settings, table: str,
                    batch_id: str, *, replay: bool = False) -> ValidationOutcome:
    """Validate ``staging.<table>`` rows of ``batch_id``; quarantine bad rows; record the results.

    Rows breaking an error-level row rule (and duplicates of a business key except the first) move
    to ``quarantine.<table>`` with every rule they broke and a readable reason. Warnings are recorded.
    A failed critical rule records the results and raises ``CriticalValidationError`` without moving
    any row. Runs in its own transaction unless the caller already opened one (then the caller commits).
    """
    suite = load_suite(table)
    log.info("validating %s batch %s", table, batch_id)
    own = _begin(con)
    try:
        ensure_results_table(con)
        ensure_quarantine_table(con, table)
        columns = build_check_relation(con, suite, batch_id)
        ev = evaluate(con, settings, suite, batch_id, columns, {"unique_across_staging": replay})
        critical = [r.rule for r in ev.results if not r.success and r.severity == "critical"]
        if settings.validation.data_docs_enabled:
            run_great_expectations(con, settings, suite, batch_id, ev)
        warnings = sum(1 for r in ev.results if not r.success and r.severity == "warning")
        moved = 0
        if not critical:
            moved = quarantine_failures(con, table, batch_id, ev, columns)
            record_results(con, table, batch_id, ev.rows_checked, ev.results)
        drop_work_tables(con)
        if own:
            con.execute("commit" if not critical else "rollback")
    except BaseException:
        if own:
            con.execute("rollback")
        raise
    if critical:
        # The batch is refused and the caller will roll its transaction back: the results that explain
        # why are written through a second connection to the same database, committed on their own.
        side = con.cursor()
        try:
            side.execute("begin transaction")
            record_results(side, table, batch_id, ev.rows_checked, ev.results)
            side.execute("commit")
        except duckdb.Error as exc:  # e.g. the results table was created in the caller's open transaction
            log.warning("could not record the failed validation of %s %s: %s", table, batch_id, exc)
        finally:
            side.close()
    outcome = ValidationOutcome(table, batch_id, ev.rows_checked, moved, warnings, critical, ev.results)
    render_site_if_enabled(con, settings, {table})
    if critical:
        details = "; ".join(
            f"{r.rule} ({r.details.get('error') or r.details or r.unexpected_count})"
            for r in ev.results if r.rule in critical)
        raise CriticalValidationError(
            f"batch {batch_id} of {table} failed critical rule(s): {details}; nothing was loaded")
    return outcome


def validate_core(con: duckdb.DuckDBPyConnection, settings: Settings, table: str,
                  batch_ids: list[str]) -> ValidationOutcome:
    """Check ``core.<table>`` after the batches were loaded (suite ``expectations/<table>.json``).

    Nothing is quarantined here: the grain, keys and the reconciliation with staging either hold or
    the load is wrong. Failed critical rules raise ``CriticalValidationError`` (call it inside the load
    transaction so the load rolls back); error and warning failures are recorded. Results go to
    ``audit.validation_results`` under the last batch id of the load.
    """
    suite = load_suite(table)
    label = sorted(batch_ids)[-1] if batch_ids else "core"
    params: dict[str, object] = {"batch_ids": list(batch_ids)}
    source = f"core.{checked_identifier(table)}"
    written = _written_rows(con, suite, table)
    if written is not None:  # the rows the load wrote, as a relation the check and the reconciliation read
        con.execute(f"create or replace temp view {WRITTEN_ROWS} as {written}")
        source = params["core_rows"] = WRITTEN_ROWS
    columns = build_check_relation(con, suite, None, source_table=source)
    ev = evaluate(con, settings, suite, label, columns, params)
    critical = [r.rule for r in ev.results if not r.success and r.severity == "critical"]
    warnings = sum(1 for r in ev.results if not r.success and r.severity != "critical")
    ensure_results_table(con)
    record_results(con, table, label, ev.rows_checked, ev.results)
    drop_work_tables(con)
    con.execute(f"drop view if exists {WRITTEN_ROWS}")
    render_site_if_enabled(con, settings, {table})
    outcome = ValidationOutcome(table, label, ev.rows_checked, 0, warnings, critical, ev.results)
    if critical:
        details = "; ".join(f"{r.rule} ({r.details or r.unexpected_count})" for r in ev.results if r.rule in critical)
        raise CriticalValidationError(f"core.{table} after loading {label}: critical rule(s) failed: {details}")
    return outcome


# The rule kinds a check of the rows a load wrote can answer: row rules, uniqueness of the key the writes
# are recorded by (every row holding a written key is in the check relation, so it is those keys against
# the whole table), the column set, and the reconciliation with staging (which reads the batches, not
# the check relation). A critical rule then fails exactly when it would over the whole table (which held
# before: a failed critical rule rolls the load back); error and warning counts are the load's own rows.
_SCOPABLE_TYPES = frozenset({"expect_table_columns_to_match_set", "crmwh_loaded_totals_reconcile"})


def _written_rows(con: duckdb.DuckDBPyConnection, suite: Suite, table: str) -> str | None:
    """The rows of ``core.<table>`` worth checking after a load, as SQL: those holding a key the load
    delivered, every row it appended and any without a key (the record of
    :func:`warehouse.core.core_writes.recording_writes`); None = every row (no record, the table was
    empty before, or a rule of the suite needs the whole table).

    A load changes fact rows otherwise only by re-pointing type-2 keys (``refresh_fact_keys``: always a
    version or the unknown customer, never NULL), by the as-of columns (SLA, days late: no rule reads
    them) and by deleting rows (which the reconciliation with staging counts)."""
    scope = written_scope(con, table)
    if scope is None:
        return None
    key, rows = scope
    for rule in suite.rules:
        if rule.is_row_rule or rule.expectation_type in _SCOPABLE_TYPES:
            continue
        if rule.expectation_type in UNIQUE_TYPES and (rule.kwargs.get("column_list") or [rule.kwargs["column"]]) == [key]:
            continue
        return None
    return rows
