"""The Great Expectations run of a suite over the check relation (report and Data Docs): its counts are
noted beside the DuckDB engine's, a mismatch or an error is a warning; it never decides quarantine."""

from __future__ import annotations

import logging

import duckdb

from warehouse.foundation.settings import Settings
from warehouse.quality.suites import Suite
from warehouse.quality.validation.check import CHECK_TABLE
from warehouse.quality.validation.evaluate import Evaluation
from warehouse.quality.validation.results import RuleResult

log = logging.getLogger(__name__)


def run_great_expectations(con: duckdb.DuckDBPyConnection, settings: Settings, suite: Suite, batch_id: str,
                        ev: Evaluation) -> None:
    """Run the suite through GE (report + Data Docs); note its counts beside ours; never decides quarantine."""
    from warehouse.quality.data_docs import run_suite

    flagged = (f"_source_row in (select _source_row from {ev.flagged_table})" if ev.flagged_table
               else " or ".join(f"({p})" for p in ev.flag_predicates) or None)
    try:
        report = run_suite(con, settings, suite, batch_id, ev.params, CHECK_TABLE, flagged)
    except Exception as exc:  # noqa: BLE001 - the report must not hide the validation itself
        log.warning("Great Expectations run for %s %s failed: %s", suite.table, batch_id, exc)
        ev.results.append(RuleResult("great_expectations_run", "crmwh_ge_run", "warning", False, 0,
                                     {"error": f"{type(exc).__name__}: {exc}"}))
        return
    mismatches = {}
    for result in ev.results:
        if result.rule in report.errors:
            result.details["ge_error"] = report.errors[result.rule]
        ge_count = report.unexpected.get(result.rule)
        if ge_count is not None:
            result.details["ge_unexpected_count"] = ge_count
            if ge_count != result.unexpected_count:
                mismatches[result.rule] = (result.unexpected_count, ge_count)
    ev.results.append(RuleResult(
        "great_expectations_run", "crmwh_ge_run", "warning", not mismatches and not report.errors, len(mismatches),
        {"element_count": report.element_count, "sampled": report.sampled, "mismatches": mismatches,
         "errors": report.errors, "data_docs": str(report.docs_index) if report.docs_index else None}))
