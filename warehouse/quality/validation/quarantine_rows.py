"""Moving the rows of a batch that break error-level rules to quarantine: one row per failing row with
every rule it broke and their filled reasons, counted before and after (a bad row is never lost)."""

from __future__ import annotations

import duckdb

from warehouse.foundation.errors import CrmwhError
from warehouse.ingest.quarantine import quarantine_from
from warehouse.quality.suites import Rule
from warehouse.quality.validation.check import CHECK_TABLE
from warehouse.quality.validation.evaluate import Evaluation
from warehouse.quality.validation.rule_sql import literal, reason_sql


def candidates(ev: Evaluation) -> str:
    """The check rows worth looking at for quarantine: the flagged ones when they were collected."""
    if ev.flagged_table:
        return f"(select * from {CHECK_TABLE} where _source_row in (select _source_row from {ev.flagged_table}))"  # noqa: S608
    return CHECK_TABLE


def quarantine_sql(row_rules: list[tuple[Rule, str]], available: set[str], source: str = CHECK_TABLE) -> str:
    """One row per failing row: every error rule it broke and their filled reasons. The per-rule lists
    are only built for the (few) rows that fail something."""
    any_failure = " or ".join(f"({pred})" for _, pred in row_rules)
    rule_items = ", ".join(f"case when {pred} then {literal(rule.rule_id)} end" for rule, pred in row_rules)
    reason_items = ", ".join(f"case when {pred} then {reason_sql(rule.reason, available)} end"
                             for rule, pred in row_rules)
    return f"""
        select _source_row,
               list_filter([{rule_items}], lambda x: x is not null) as rules,
               array_to_string(list_filter([{reason_items}], lambda x: x is not null), '; ') as reason
        from (select * from {source} where {any_failure})
    """  # noqa: S608


def quarantine_failures(con: duckdb.DuckDBPyConnection, table: str, batch_id: str, ev: Evaluation,
                        columns: list[str]) -> int:
    """Move the batch's rows that break an error-level row rule to ``quarantine.<table>``; returns how many."""
    if not ev.row_rules:
        return 0
    any_failure = " or ".join(f"({pred})" for _, pred in ev.row_rules)
    source = candidates(ev)
    expected = con.execute(f"select count(*) filter (where {any_failure}) from {source}").fetchone()[0]  # noqa: S608
    if not expected:  # nothing to move (the quarantine table exists already: validate_staged made it)
        return 0
    moved = quarantine_from(con, table, batch_id, quarantine_sql(ev.row_rules, set(columns), source))
    if moved != expected:  # never lose a bad row silently (e.g. an engine bug in filtered reads)
        raise CrmwhError(f"validation of {table} batch {batch_id}: {expected} row(s) broke error rules "
                         f"but {moved} moved to quarantine; nothing was changed")
    return moved
