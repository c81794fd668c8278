"""Expectation suites: ``expectations/<table>.json`` read and checked into rules with their contract
metadata (rule id, severity, reason). Used by the DuckDB validation (``warehouse.quality.validation``) and by the
Great Expectations run behind the Data Docs (``warehouse.quality.data_docs``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warehouse.foundation.errors import RejectedBatchError
from warehouse.foundation.settings import EXPECTATIONS_DIR, Settings
from warehouse.ingest.quarantine import checked_identifier

SEVERITIES = ("error", "warning", "critical")

# Expectation types evaluated per row (quarantine candidates) and per table.
ROW_TYPES = frozenset({
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_pair_values_to_be_equal",
})
UNIQUE_TYPES = frozenset({"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"})
TABLE_TYPES = frozenset({"expect_table_row_count_to_be_between", "expect_table_columns_to_match_set"})
# crmwh's own table checks (no Great Expectations equivalent; reported in audit, not in Data Docs).
CUSTOM_TYPES = frozenset({"crmwh_totals_reconcile", "crmwh_source_columns_mapped", "crmwh_loaded_totals_reconcile"})



@dataclass(frozen=True)
class Rule:
    """One expectation of a suite with its contract metadata."""

    rule_id: str
    expectation_type: str
    kwargs: dict[str, Any]
    severity: str
    reason: str
    meta: dict[str, Any]

    @property
    def is_row_rule(self) -> bool:
        return self.expectation_type in ROW_TYPES

    @property
    def columns(self) -> list[str]:
        kw = self.kwargs
        cols = [kw[k] for k in ("column", "column_A", "column_B") if k in kw]
        cols += list(kw.get("column_list", []))
        return cols + _condition_columns(kw.get("row_condition"))


def _condition_columns(cond: Any) -> list[str]:
    if not isinstance(cond, dict):
        return []
    if "column" in cond:
        return [cond["column"]["name"]]
    return [c for sub in cond.get("conditions", []) for c in _condition_columns(sub)]


@dataclass(frozen=True)
class Suite:
    table: str
    path: Path
    rules: tuple[Rule, ...]
    raw: dict[str, Any]
    references: dict[str, dict[str, str]]  # _ref__<col> -> {"column": col, "reference": name}


def suite_path(table: str) -> Path:
    return EXPECTATIONS_DIR / f"{checked_identifier(table)}.json"


def load_suite(table: str, path: Path | None = None) -> Suite:
    """Read and check ``expectations/<table>.json`` (every rule: id, severity, reason; ids unique)."""
    path = path or suite_path(table)
    if not path.is_file():
        raise RejectedBatchError(f"no expectation suite for {table}: {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RejectedBatchError(f"expectation suite {path} is not valid JSON: {exc}") from exc
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, exp in enumerate(data.get("expectations", [])):
        meta = exp.get("meta") or {}
        where = f"{path.name} expectation #{i + 1} ({exp.get('type')})"
        rule_id, severity, reason = meta.get("rule"), meta.get("severity"), meta.get("reason")
        if not rule_id or not reason or severity not in SEVERITIES:
            raise ValueError(f"{where}: meta needs rule, reason and severity in {SEVERITIES}")
        if rule_id in seen:
            raise ValueError(f"{where}: rule id {rule_id!r} declared twice")
        if exp["type"] not in ROW_TYPES | UNIQUE_TYPES | TABLE_TYPES | CUSTOM_TYPES:
            raise ValueError(f"{where}: expectation type {exp['type']} is not supported by the DuckDB engine")
        seen.add(rule_id)
        rules.append(Rule(rule_id, exp["type"], dict(exp.get("kwargs") or {}), severity, reason, meta))
    references = dict((data.get("meta") or {}).get("references") or {})
    return Suite(table=table, path=path, rules=tuple(rules), raw=data, references=references)


def suite_parameters(settings: Settings, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Values for ``{"$PARAMETER": name}`` in suites: every ValidationSettings field, plus run values."""
    params: dict[str, Any] = settings.validation.model_dump()
    params.update(extra or {})
    return params


def resolve(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        name = value["$PARAMETER"]
        if name not in params:
            raise ValueError(f"suite parameter {name!r} has no value (not a ValidationSettings field?)")
        return params[name]
    return value
