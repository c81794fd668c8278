"""SQL translation of a suite's rules: values as SQL literals, Great Expectations row conditions, the
failure predicate of each row rule (TRUE exactly for the rows the expectation counts as unexpected)
and the readable reason of a failing row (``{column}`` placeholders filled from the row)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from warehouse.foundation.sqltext import quote_ident, quote_literal
from warehouse.quality.suites import Rule, resolve


def literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date):
        value = value.isoformat()
    return quote_literal(str(value))


def condition_sql(cond: Any) -> str:
    """A Great Expectations row_condition (serialised Condition) as SQL."""
    if cond in (None, {}):
        return "true"
    if not isinstance(cond, dict):
        raise ValueError(f"row_condition {cond!r}: only structured conditions are supported")
    kind = cond.get("type")
    if kind == "nullity":
        return f"{quote_ident(cond['column']['name'])} is {'' if cond['is_null'] else 'not '}null"
    if kind == "comparison":
        op = cond["operator"]
        column = quote_ident(cond["column"]["name"])
        param = cond["parameter"]
        if op in ("IN", "NOT_IN"):
            items = ", ".join(literal(v) for v in param)
            return f"{column} {'not ' if op == 'NOT_IN' else ''}in ({items})"
        sql_op = {"==": "=", "!=": "<>"}.get(op, op)
        return f"{column} {sql_op} {literal(param)}"
    if kind in ("and", "or"):
        parts = [f"({condition_sql(c)})" for c in cond["conditions"]]
        return f" {kind} ".join(parts)
    raise ValueError(f"row_condition type {kind!r} is not supported")


def failure_predicate(rule: Rule, params: dict[str, Any]) -> str:
    """SQL that is TRUE exactly for the rows the expectation counts as unexpected."""
    kw = {k: resolve(v, params) for k, v in rule.kwargs.items()}
    t = rule.expectation_type
    cond = condition_sql(kw.get("row_condition"))
    if t == "expect_column_values_to_not_be_null":
        pred = f"{quote_ident(kw['column'])} is null"
    elif t == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = quote_ident(kw["column_A"]), quote_ident(kw["column_B"])
        op = ">=" if kw.get("or_equal") else ">"
        if kw.get("ignore_row_if", "both_values_are_missing") != "either_value_is_missing":
            raise ValueError(f"rule {rule.rule_id}: use ignore_row_if=either_value_is_missing")
        pred = f"{a} is not null and {b} is not null and not ({a} {op} {b})"
    elif t == "expect_column_pair_values_to_be_equal":
        a, b = quote_ident(kw["column_A"]), quote_ident(kw["column_B"])
        if kw.get("ignore_row_if", "both_values_are_missing") != "either_value_is_missing":
            raise ValueError(f"rule {rule.rule_id}: use ignore_row_if=either_value_is_missing")
        pred = f"{a} is not null and {b} is not null and {a} <> {b}"
    else:
        column = quote_ident(kw["column"])
        if t == "expect_column_values_to_be_between":
            bounds = []
            if kw.get("min_value") is not None:
                bounds.append(f"{column} {'<=' if kw.get('strict_min') else '<'} {literal(kw['min_value'])}")
            if kw.get("max_value") is not None:
                bounds.append(f"{column} {'>=' if kw.get('strict_max') else '>'} {literal(kw['max_value'])}")
            pred = f"{column} is not null and ({' or '.join(bounds) or 'false'})"
        elif t == "expect_column_values_to_be_in_set":
            items = ", ".join(literal(v) for v in kw["value_set"])
            pred = f"{column} is not null and {column} not in ({items})"
        elif t == "expect_column_values_to_not_be_in_set":
            items = ", ".join(literal(v) for v in kw["value_set"])
            pred = f"{column} is not null and {column} in ({items})"
        elif t == "expect_column_values_to_match_regex":
            pred = f"{column} is not null and not regexp_matches({column}::varchar, {literal(kw['regex'])})"
        elif t == "expect_column_values_to_not_match_regex":
            pred = f"{column} is not null and regexp_matches({column}::varchar, {literal(kw['regex'])})"
        else:
            raise ValueError(f"rule {rule.rule_id}: {t} is not a row rule")
    return f"coalesce(({cond}) and ({pred}), false)"


PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def reason_sql(template: str, available: set[str]) -> str:
    """The reason template as a SQL string expression filled from the row (``{col}`` -> its value)."""
    parts: list[str] = []
    pos = 0
    for m in PLACEHOLDER.finditer(template):
        if m.start() > pos:
            parts.append(literal(template[pos:m.start()]))
        name = m.group(1)
        if name in available:
            parts.append(f"coalesce(left({quote_ident(name)}::varchar, 80), 'missing')")
        else:
            parts.append(literal(m.group(0)))
        pos = m.end()
    if pos < len(template):
        parts.append(literal(template[pos:]))
    return " || ".join(parts) if parts else "''"
