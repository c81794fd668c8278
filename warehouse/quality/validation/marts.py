"""The marts gate: every ``marts.*`` table with a suite checked before publishing; a failed critical
rule stops the publication."""

from __future__ import annotations

import json

import duckdb

from warehouse.foundation.db import column_types, table_exists
from warehouse.foundation.errors import CriticalValidationError
from warehouse.foundation.settings import EXPECTATIONS_DIR, Settings
from warehouse.ingest.quarantine import checked_identifier
from warehouse.quality.data_docs_site import render_site_if_enabled
from warehouse.quality.suites import Suite, load_suite
from warehouse.quality.validation.check import build_check_relation, drop_work_tables
from warehouse.quality.validation.evaluate import evaluate
from warehouse.quality.validation.results import ValidationOutcome, ensure_results_table, record_results

MARTS_SCHEMA = "marts"


def marts_suites() -> list[Suite]:
    """Every suite in ``expectations/`` that guards a published mart (``meta.table`` = ``marts.<name>``)."""
    suites = []
    for path in sorted(EXPECTATIONS_DIR.glob("*.json")):
        table = (json.loads(path.read_text(encoding="utf-8")).get("meta") or {}).get("table", "")
        if table == f"{MARTS_SCHEMA}.{path.stem}":
            suites.append(load_suite(path.stem, path))
    return suites


def validate_marts(con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str) -> list[ValidationOutcome]:
    """Check every ``marts.*`` table of the working warehouse against its suite: the gate before publishing.

    Marts without a suite, and suites whose mart this run did not build, are skipped. Every result goes
    to ``audit.validation_results`` (batch id = ``run_id``, table = the mart's name); nothing is moved.
    When a critical rule fails (duplicate grain keys, a probability outside [0, 1], a missing column)
    ``CriticalValidationError`` is raised after every mart was checked and recorded: do not publish.
    """
    ensure_results_table(con)
    outcomes: list[ValidationOutcome] = []
    for suite in marts_suites():
        source = f"{MARTS_SCHEMA}.{checked_identifier(suite.table)}"
        if not table_exists(con, source, views=True):
            continue
        source_columns = list(column_types(con, source))
        columns = build_check_relation(con, suite, None, source_table=source)
        ev = evaluate(con, settings, suite, run_id, columns, {"source_columns": source_columns})
        record_results(con, suite.table, run_id, ev.rows_checked, ev.results)
        drop_work_tables(con)
        critical = [r.rule for r in ev.results if not r.success and r.severity == "critical"]
        warnings = sum(1 for r in ev.results if not r.success and r.severity != "critical")
        outcomes.append(ValidationOutcome(suite.table, run_id, ev.rows_checked, 0, warnings, critical, ev.results))
    render_site_if_enabled(con, settings, {o.table for o in outcomes})
    failed = [o for o in outcomes if o.critical_failures]
    if failed:
        details = "; ".join(
            f"{o.table}: " + ", ".join(
                f"{r.rule} ({r.details.get('error') or r.unexpected_count})" for r in o.results if r.rule in o.critical_failures)
            for o in failed)
        raise CriticalValidationError(f"marts of run {run_id} failed critical rule(s): {details}; nothing was published")
    return outcomes
