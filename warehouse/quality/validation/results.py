"""The outcome of a validation (per rule, per table and batch) and its record in
``audit.validation_results`` (the table every report, Data Docs page and status reads)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb

from warehouse.foundation.db import table_exists
from warehouse.foundation.settings import SQL_DIR

VALIDATION_DDL = SQL_DIR / "ddl" / "020_validation.sql"


@dataclass
class RuleResult:
    rule: str
    expectation_type: str
    severity: str
    success: bool
    unexpected_count: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValidationOutcome:
    table: str
    batch_id: str
    rows_checked: int
    rows_quarantined: int
    warnings: int
    critical_failures: list[str]
    results: list[RuleResult] = field(default_factory=list)

    @property
    def rows_passed(self) -> int:
        return self.rows_checked - self.rows_quarantined

    def result(self, rule: str) -> RuleResult:
        return next(r for r in self.results if r.rule == rule)


def ensure_results_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``audit.validation_results`` when missing (normally made by ``warehouse.foundation.db.migrate``)."""
    if table_exists(con, "audit.validation_results"):
        return
    for schema in ("audit", "quarantine"):
        con.execute(f"create schema if not exists {schema}")
    con.execute(VALIDATION_DDL.read_text(encoding="utf-8"))


def record_results(con: duckdb.DuckDBPyConnection, table: str, batch_id: str, rows_checked: int,
            results: list[RuleResult]) -> None:
    con.execute("delete from audit.validation_results where batch_id = ? and table_name = ?", [batch_id, table])
    rows = [(batch_id, table, "_rows_checked", "crmwh_rows_checked", "warning", True, 0, rows_checked, None)]
    rows += [(batch_id, table, r.rule, r.expectation_type, r.severity, r.success, r.unexpected_count,
              rows_checked, json.dumps(r.details, default=str) if r.details else None) for r in results]
    # one statement for all of them (executemany runs the insert once per row)
    placeholders = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows))
    con.execute(
        "insert into audit.validation_results (batch_id, table_name, rule, expectation_type, severity, success, "
        f"unexpected_count, rows_checked, details) values {placeholders}", [v for row in rows for v in row])
