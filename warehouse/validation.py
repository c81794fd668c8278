"""Validate a staged batch against its Great Expectations suite; quarantine bad rows; record results.

The suite ``expectations/<table>.json`` is the one declaration of a table's data contract. Each
expectation carries in ``meta`` its rule id, its severity (``error``: the row goes to quarantine;
``warning``: recorded only; ``critical``: the batch is refused and nothing downstream runs) and a
readable reason template (``{column}`` placeholders are filled from the offending row).

The same suite is evaluated two ways:

- here, translated to vectorized DuckDB predicates over the batch (exact, fast at any scale): this
  decides quarantine and fills ``audit.validation_results``;
- by Great Expectations' pandas engine (``warehouse.data_docs``) to render Data Docs.

Both read the same *check relation*: the batch's staged rows plus derived columns the suite may name:
``_raw__<col>`` (the source's original text for ``<col>``, blank = missing; "values parse" is
"typed value is NULL where the raw text is not"), ``_ref__<col>`` (the matching key of a reference
table, NULL when ``<col>`` does not resolve) and ``_extracted_at`` (when the batch was extracted).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb

from warehouse.core_writes import written_scope
from warehouse.data_docs_site import render_site_if_enabled
from warehouse.errors import CriticalValidationError, CrmwhError, RejectedBatchError
from warehouse.quarantine import checked_identifier, ensure_quarantine_table, quarantine_from, raw_table_of
from warehouse.settings import EXPECTATIONS_DIR, SQL_DIR, Settings
from warehouse.suites import UNIQUE_TYPES, Rule, Suite, load_suite, resolve, suite_parameters

log = logging.getLogger(__name__)
VALIDATION_DDL = SQL_DIR / "ddl" / "020_validation.sql"
CHECK_TABLE = "_validation_check"
FLAGGED_TABLE = "_validation_flagged"  # _source_row of the rows any row rule flags (one scan, reused)
RAW_PREFIX = "_raw__"
PARSED = "(parsed)"  # a lazily read _raw__<col> where the typed value parsed (see build_check_relation)
REF_PREFIX = "_ref__"

# Reference sets a ``_ref__<col>`` column resolves against: name -> candidate (table, key column)
# pairs; tables that do not exist (yet) are skipped. Staging (this run and the current rows kept
# between runs) first, then the core dimensions (``_src_id`` is the CRM's integer id).
REFERENCE_SOURCES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "products": (("staging.stg_crm__products", "product_code", "true"),
                 ("core.dim_product", "product_id", "true")),
    # file drops create the products they describe: a code with a description anywhere in staged file lines
    "described_products": (("staging.stg_crm__products", "product_code", "true"),
                           ("core.dim_product", "product_id", "true"),
                           ("staging.stg_files__sales_lines", "product_code", "description is not null")),
    "orders": (("staging.stg_crm__orders", "order_id", "true"),),
    "customers": (("staging.stg_crm__customers", "customer_id", "true"),
                  ("core.dim_customer", "_src_id", "true")),
    "employees": (("staging.stg_crm__employees", "employee_id", "true"),
                  ("core.dim_employee", "_src_id", "true")),
    # the services agency's sales process and delivery
    "leads": (("staging.stg_crm__leads", "lead_id", "true"), ("core.fct_lead", "_src_id", "true")),
    "opportunities": (("staging.stg_crm__opportunities", "opportunity_id", "true"),
                      ("core.fct_opportunity", "_src_id", "true")),
    "contracts": (("staging.stg_crm__contracts", "contract_id", "true"), ("core.fct_contract", "_src_id", "true")),
    "service_orders": (("staging.stg_crm__service_orders", "service_order_id", "true"),),
}

# --------------------------------------------------------------------------------------------------
# Outcome
# --------------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------------
# SQL translation
# --------------------------------------------------------------------------------------------------
def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date):
        value = value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def _col(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _condition_sql(cond: Any) -> str:
    """A Great Expectations row_condition (serialised Condition) as SQL."""
    if cond in (None, {}):
        return "true"
    if not isinstance(cond, dict):
        raise ValueError(f"row_condition {cond!r}: only structured conditions are supported")
    kind = cond.get("type")
    if kind == "nullity":
        return f"{_col(cond['column']['name'])} is {'' if cond['is_null'] else 'not '}null"
    if kind == "comparison":
        op = cond["operator"]
        column = _col(cond["column"]["name"])
        param = cond["parameter"]
        if op in ("IN", "NOT_IN"):
            items = ", ".join(_literal(v) for v in param)
            return f"{column} {'not ' if op == 'NOT_IN' else ''}in ({items})"
        sql_op = {"==": "=", "!=": "<>"}.get(op, op)
        return f"{column} {sql_op} {_literal(param)}"
    if kind in ("and", "or"):
        parts = [f"({_condition_sql(c)})" for c in cond["conditions"]]
        return f" {kind} ".join(parts)
    raise ValueError(f"row_condition type {kind!r} is not supported")


def failure_predicate(rule: Rule, params: dict[str, Any]) -> str:
    """SQL that is TRUE exactly for the rows the expectation counts as unexpected."""
    kw = {k: resolve(v, params) for k, v in rule.kwargs.items()}
    t = rule.expectation_type
    cond = _condition_sql(kw.get("row_condition"))
    if t == "expect_column_values_to_not_be_null":
        pred = f"{_col(kw['column'])} is null"
    elif t == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = _col(kw["column_A"]), _col(kw["column_B"])
        op = ">=" if kw.get("or_equal") else ">"
        if kw.get("ignore_row_if", "both_values_are_missing") != "either_value_is_missing":
            raise ValueError(f"rule {rule.rule_id}: use ignore_row_if=either_value_is_missing")
        pred = f"{a} is not null and {b} is not null and not ({a} {op} {b})"
    elif t == "expect_column_pair_values_to_be_equal":
        a, b = _col(kw["column_A"]), _col(kw["column_B"])
        if kw.get("ignore_row_if", "both_values_are_missing") != "either_value_is_missing":
            raise ValueError(f"rule {rule.rule_id}: use ignore_row_if=either_value_is_missing")
        pred = f"{a} is not null and {b} is not null and {a} <> {b}"
    else:
        column = _col(kw["column"])
        if t == "expect_column_values_to_be_between":
            bounds = []
            if kw.get("min_value") is not None:
                bounds.append(f"{column} {'<=' if kw.get('strict_min') else '<'} {_literal(kw['min_value'])}")
            if kw.get("max_value") is not None:
                bounds.append(f"{column} {'>=' if kw.get('strict_max') else '>'} {_literal(kw['max_value'])}")
            pred = f"{column} is not null and ({' or '.join(bounds) or 'false'})"
        elif t == "expect_column_values_to_be_in_set":
            items = ", ".join(_literal(v) for v in kw["value_set"])
            pred = f"{column} is not null and {column} not in ({items})"
        elif t == "expect_column_values_to_not_be_in_set":
            items = ", ".join(_literal(v) for v in kw["value_set"])
            pred = f"{column} is not null and {column} in ({items})"
        elif t == "expect_column_values_to_match_regex":
            pred = f"{column} is not null and not regexp_matches({column}::varchar, {_literal(kw['regex'])})"
        elif t == "expect_column_values_to_not_match_regex":
            pred = f"{column} is not null and regexp_matches({column}::varchar, {_literal(kw['regex'])})"
        else:
            raise ValueError(f"rule {rule.rule_id}: {t} is not a row rule")
    return f"coalesce(({cond}) and ({pred}), false)"


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def reason_sql(template: str, available: set[str]) -> str:
    """The reason template as a SQL string expression filled from the row (``{col}`` -> its value)."""
    parts: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(template):
        if m.start() > pos:
            parts.append(_literal(template[pos:m.start()]))
        name = m.group(1)
        if name in available:
            parts.append(f"coalesce(left({_col(name)}::varchar, 80), 'missing')")
        else:
            parts.append(_literal(m.group(0)))
        pos = m.end()
    if pos < len(template):
        parts.append(_literal(template[pos:]))
    return " || ".join(parts) if parts else "''"


# --------------------------------------------------------------------------------------------------
# The check relation
# --------------------------------------------------------------------------------------------------
# One catalog read per validation instead of one per lookup (each duckdb_columns() call costs ~15 ms).
_CATALOG: dict[int, dict[tuple[str, str], dict[str, str]]] = {}


@contextmanager
def catalog_snapshot(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Answer ``_table_exists``/``_table_columns`` from one read of the catalog for the block's duration
    (tables the block itself creates are not in it: it only looks up tables that exist beforehand)."""
    columns: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, column, dtype in con.execute(
            "select schema_name, table_name, column_name, data_type from duckdb_columns() "
            "where database_name = current_database() order by schema_name, table_name, column_index").fetchall():
        columns.setdefault((schema, table), {})[column] = dtype
    _CATALOG[id(con)] = columns
    try:
        yield
    finally:
        _CATALOG.pop(id(con), None)


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    if id(con) in _CATALOG:
        return (schema, name) in _CATALOG[id(con)]
    row = con.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?", [schema, name]
    ).fetchone()
    if row and row[0]:
        return True
    row = con.execute(
        "select count(*) from duckdb_views() where schema_name = ? and view_name = ?", [schema, name]
    ).fetchone()
    return bool(row and row[0])


def _table_columns(con: duckdb.DuckDBPyConnection, qualified: str) -> dict[str, str]:
    schema, name = qualified.split(".")
    if id(con) in _CATALOG:
        return dict(_CATALOG[id(con)].get((schema, name), {}))
    return {r[0]: r[1] for r in con.execute(
        "select column_name, data_type from duckdb_columns() where schema_name = ? and table_name = ? "
        "order by column_index", [schema, name]).fetchall()}


def _reference_sql(con: duckdb.DuckDBPyConnection, reference: str) -> str | None:
    parts = []
    for qualified, key, where in REFERENCE_SOURCES.get(reference, ()):
        if _table_exists(con, qualified) and key in _table_columns(con, qualified):
            parts.append(f"select distinct {_col(key)}::varchar as k from {qualified} where {where}")  # noqa: S608
    return " union ".join(parts) if parts else None


def build_check_relation(con: duckdb.DuckDBPyConnection, suite: Suite, batch_id: str | None,
                         source_table: str | None = None, where: str | None = None) -> list[str]:
    """Create temp table ``_validation_check``: the batch's rows plus the derived columns the suite uses.

    Returns the list of the check relation's column names. ``source_table`` defaults to
    ``staging.<table>``; ``batch_id`` None takes every row (core tables: the grain holds table-wide),
    narrowed by ``where`` (a predicate on the source's rows, alias ``s``) when given.
    """
    staging = source_table or f"staging.{checked_identifier(suite.table)}"
    columns = _table_columns(con, staging) if "." in staging else _temp_columns(con, staging)
    if not columns:
        raise RejectedBatchError(f"{staging} does not exist: stage the batch before validating it")
    wanted = {c for rule in suite.rules for c in rule.columns}
    wanted |= {c for rule in suite.rules for c in _PLACEHOLDER.findall(rule.reason)}
    # only what the rules read (plus row identity): a narrow check relation is cheap to build and scan
    keep = (wanted | {"_batch_id", "_source_row"}) & set(columns)
    selects = [f"s.{_col(c)}" for c in columns if c in keep]
    joins: list[str] = []
    raw_cols = sorted(c for c in wanted if c.startswith(RAW_PREFIX))
    raw_names = [c[len(RAW_PREFIX):] for c in raw_cols]
    # the source text: the batch's rows in the raw layer (same _batch_id, _source_row), else the staged
    # _raw JSON (replayed rows, file drops whose header names differ, tables staged by hand)
    raw_table = _raw_source(con, suite.table, batch_id, raw_names)
    if raw_cols and not raw_table and "_raw" not in columns:
        raise RejectedBatchError(f"{staging} has no _raw column: cannot check that values parse")
    # Where the typed value parsed, the raw text was present: a rule that only asks whether _raw__<col>
    # is null (required / parses) needs the text only where the typed value is NULL, a tiny share of a
    # batch. Those columns read the text lazily; columns a rule inspects otherwise read all of it.
    inspected = _inspected_columns(suite)
    lazy = sorted(c for c in raw_cols if c[len(RAW_PREFIX):] in columns and c not in inspected)
    full = [c for c in raw_cols if c not in lazy]
    keys = {} if raw_table or not raw_cols else _raw_keys(con, staging, batch_id, raw_names, columns)

    def json_text(c: str) -> str:
        key = keys[c[len(RAW_PREFIX):]]
        return f"nullif(trim(json_extract_string(s._raw, {_literal(chr(36) + '.' + chr(34) + key.replace(chr(34), '') + chr(34))})), '')"

    def text(c: str) -> str:
        return f"nullif(trim(rw.{_col(c[len(RAW_PREFIX):])}), '')" if raw_table else json_text(c)

    if raw_table and full:
        joins.append(f"left join {raw_table} rw on rw._batch_id = s._batch_id and rw._source_row = s._source_row")
    elif raw_table and lazy:
        # only the raw rows of the batch whose typed value is NULL somewhere (a join with all of them
        # would read every source value again)
        unparsed = " or ".join(f"{_col(c[len(RAW_PREFIX):])} is null" for c in lazy)
        joins.append(
            f"left join (select * from {raw_table} where _batch_id = {_literal(batch_id)} and _source_row in ("
            f"select _source_row from {staging} where _batch_id = {_literal(batch_id)} and ({unparsed}))) rw "
            "on rw._source_row = s._source_row")
    for c in lazy:
        selects.append(f"case when s.{_col(c[len(RAW_PREFIX):])} is not null then {_literal(PARSED)} "
                       f"else {text(c)} end as {_col(c)}")
    selects += [f"{text(c)} as {_col(c)}" for c in full]
    for i, c in enumerate(sorted(c for c in wanted if c.startswith(REF_PREFIX))):
        spec = suite.references.get(c)
        if spec is None:
            raise ValueError(f"{suite.path.name}: {c} is used but not declared in meta.references")
        ref_sql = _reference_sql(con, spec["reference"])
        if ref_sql is None:
            selects.append(f"null::varchar as {_col(c)}")
            continue
        alias = f"r{i}"
        joins.append(f"left join ({ref_sql}) {alias} on {alias}.k = s.{_col(spec['column'])}::varchar")
        selects.append(f"{alias}.k as {_col(c)}")
    if "_extracted_at" in wanted and "_extracted_at" not in columns:
        started = "null::timestamp"
        if _table_exists(con, "audit.load_batches"):
            started = "(select max(started_at) from audit.load_batches where batch_id = s._batch_id)"
        selects.append(f"coalesce({started}, current_timestamp::timestamp) as _extracted_at")
    con.execute(
        f"create or replace temp table {CHECK_TABLE} as select {', '.join(selects)} "  # noqa: S608
        f"from {staging} s {' '.join(joins)} where {'s._batch_id = ?' if batch_id is not None else 'true'}"
        f"{f' and ({where})' if where else ''}",
        [batch_id] if batch_id is not None else [],
    )
    return list(_temp_columns(con, CHECK_TABLE))


def _inspected_columns(suite: Suite) -> set[str]:
    """Columns some rule reads for more than "is it null" (regex, ranges, sets, pairs, uniqueness)."""
    out: set[str] = set()
    for rule in suite.rules:
        kw = rule.kwargs
        if rule.expectation_type != "expect_column_values_to_not_be_null":
            out |= {kw[k] for k in ("column", "column_A", "column_B") if k in kw}
            out |= set(kw.get("column_list", []))
        out |= set(_condition_columns_compared(kw.get("row_condition")))
    return out


def _condition_columns_compared(cond: Any) -> list[str]:
    if not isinstance(cond, dict):
        return []
    if cond.get("type") == "comparison":
        return [cond["column"]["name"]]
    return [c for sub in cond.get("conditions", []) for c in _condition_columns_compared(sub)]


def _raw_source(con: duckdb.DuckDBPyConnection, table: str, batch_id: str | None, keys: list[str]) -> str | None:
    """``raw.<t>`` when it holds this batch's source text under these column names, else None (then the
    staged ``_raw`` JSON is read: replayed rows, tables staged by hand)."""
    if not keys or batch_id is None or batch_id.startswith("replay."):
        return None
    raw_name = raw_table_of(table)
    if raw_name is None:
        return None
    raw = f"raw.{raw_name}"
    if not _table_exists(con, raw):
        return None
    cols = _table_columns(con, raw)
    if not set(keys) <= set(cols) or not {"_batch_id", "_source_row"} <= set(cols):
        return None
    found = con.execute(f"select count(*) from (select 1 from {raw} where _batch_id = ? limit 1)",  # noqa: S608
                        [batch_id]).fetchone()[0]
    return raw if found else None


def _raw_keys(con: duckdb.DuckDBPyConnection, staging: str, batch_id: str, wanted: list[str],
              columns: dict[str, str]) -> dict[str, str]:
    """Key of each column in the batch's ``_raw`` records: the column's own name, or for file drops the
    file's header name its source profile maps the canonical column from."""
    keys = {c: c for c in wanted}
    if "_profile" not in columns:
        return keys
    row = con.execute(f"select _profile, json_keys(_raw::json) from {staging} where _batch_id = ? limit 1",  # noqa: S608
                      [batch_id]).fetchone()
    if row is None or row[0] is None:
        return keys
    from warehouse.profiles import batch_profile

    found, _ = batch_profile(con, batch_id, row[0]).match_columns(list(row[1] or []))
    keys.update({c: found[c] for c in wanted if c in found})
    return keys


def _temp_columns(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(
        "select column_name, data_type from duckdb_columns() where table_name = ? and database_name = 'temp' "
        "order by column_index", [name]).fetchall()}


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------
@dataclass
class _Evaluation:
    rows_checked: int
    results: list[RuleResult]
    row_rules: list[tuple[Rule, str]]  # error-level rules and their failure predicates
    params: dict[str, Any]
    flag_predicates: list[str]  # every row-level predicate (any severity), for GE's focused frame
    flagged_table: str | None = None  # temp table of the _source_row of every row some rule flags


def _previous_row_count(con: duckdb.DuckDBPyConnection, table: str, batch_id: str) -> int | None:
    row = con.execute(
        """select rows_checked from audit.validation_results
           where table_name = ? and batch_id <> ? and rule = '_rows_checked' and batch_id not like 'replay.%'
           order by checked_at desc limit 1""", [table, batch_id]).fetchone()
    return int(row[0]) if row else None


def evaluate(con: duckdb.DuckDBPyConnection, settings: Settings, suite: Suite, batch_id: str,
             columns: list[str], extra_params: dict[str, Any] | None = None) -> _Evaluation:
    """Evaluate every rule of the suite over ``_validation_check`` in one scan per rule group."""
    rows_checked = int(con.execute(f"select count(*) from {CHECK_TABLE}").fetchone()[0])  # noqa: S608
    prev = _previous_row_count(con, suite.table, batch_id)
    params = suite_parameters(settings, {
        "previous_row_count": prev,
        "row_count_min": None if prev is None else prev * settings.validation.row_count_ratio_low,
        "row_count_max": None if prev is None else prev * settings.validation.row_count_ratio_high,
        **(extra_params or {}),
    })
    available = set(columns)
    results: list[RuleResult] = []
    row_rules: list[tuple[Rule, str]] = []
    counted: list[tuple[Rule, str]] = []
    flags: list[str] = []
    for rule in suite.rules:
        missing = [c for c in rule.columns if c not in available]
        if missing and rule.meta.get("when_column_missing") == "skip":
            # a rule on a column newer stagings add (tables staged before them, or by hand, lack it)
            results.append(RuleResult(rule.rule_id, rule.expectation_type, rule.severity, True, 0,
                                      {"skipped": f"column(s) {', '.join(missing)} not staged"}))
            continue
        if missing:
            results.append(RuleResult(rule.rule_id, rule.expectation_type, "critical", False, rows_checked,
                                      {"error": f"column(s) {', '.join(missing)} missing"}))
            continue
        if rule.is_row_rule:
            pred = failure_predicate(rule, params)
            counted.append((rule, f"count(*) filter (where {pred})"))
            flags.append(pred)
            if rule.severity == "error":
                row_rules.append((rule, pred))
        elif rule.expectation_type in UNIQUE_TYPES:
            keys = rule.kwargs.get("column_list") or [rule.kwargs["column"]]
            not_null = " and ".join(f"{_col(k)} is not null" for k in keys)
            not_null += f" and ({_condition_sql(rule.kwargs.get('row_condition'))})"
            # Duplicated keys by a hash aggregate (cheap), then rank only the few duplicated rows. GE
            # counts every member of a duplicated group; quarantine keeps the first of each group.
            dups = f"_dup_{len(flags)}_{len(results)}"
            order = "c._source_row" if "_source_row" in available else "c.rowid"
            row_id = "_source_row" if "_source_row" in available else "rowid"
            keys_alias = ", ".join(f"{_col(k)} as _k{i}" for i, k in enumerate(keys))
            on = " and ".join(f"c.{_col(k)} = d._k{i}" for i, k in enumerate(keys))
            staged_keys = ""
            staging = f"staging.{checked_identifier(suite.table)}"
            if params.get("unique_across_staging") and _table_exists(con, staging):
                # replay: a key already held by a staged (loaded) row makes every replayed copy a repeat
                staged_keys = (f"union all select {keys_alias}, true as _staged from {staging} "
                               f"where _batch_id <> {_literal(batch_id)} and {not_null}")
            key_names = ", ".join(f"_k{i}" for i in range(len(keys)))
            partition = ", ".join("c." + _col(k) for k in keys)
            con.execute(
                f"""create or replace temp table {dups} as
                    with d as (select {key_names}, count(*) filter (where _staged) as _staged_n
                               from (select {keys_alias}, false as _staged from {CHECK_TABLE} where {not_null}
                                     {staged_keys})
                               group by {key_names} having count(*) > 1)
                    select c.{row_id} as _row,
                           row_number() over (partition by {partition} order by {order}) + d._staged_n as _rank
                    from {CHECK_TABLE} c join d on {on}""")  # noqa: S608
            n_members = con.execute(f"select count(*) from {dups}").fetchone()[0]  # noqa: S608
            results.append(RuleResult(rule.rule_id, rule.expectation_type, rule.severity, n_members == 0,
                                      int(n_members), {"keys": keys}))
            flags.append(f"{row_id} in (select _row from {dups})")
            if rule.severity == "error":
                row_rules.append((rule, f"{row_id} in (select _row from {dups} where _rank > 1)"))
        elif rule.expectation_type == "expect_table_row_count_to_be_between":
            lo = resolve(rule.kwargs.get("min_value"), params)
            hi = resolve(rule.kwargs.get("max_value"), params)
            ok = (lo is None or rows_checked >= lo) and (hi is None or rows_checked <= hi)
            results.append(RuleResult(rule.rule_id, rule.expectation_type, rule.severity, ok, 0 if ok else 1,
                                      {"observed": rows_checked, "min": lo, "max": hi, "previous": prev}))
        elif rule.expectation_type == "expect_table_columns_to_match_set":
            expected = set(rule.kwargs["column_set"])
            # the check relation holds only the columns rules read: the source's own list when given
            present = set(params.get("source_columns") or available)
            missing_cols = sorted(expected - present)
            details: dict[str, Any] = {"missing": missing_cols}
            if rule.kwargs.get("exact_match"):  # as in GE: a column outside the set fails too
                details["unexpected"] = sorted(present - expected - {"_batch_id", "_source_row"})
            bad = len(missing_cols) + len(details.get("unexpected", []))
            results.append(RuleResult(rule.rule_id, rule.expectation_type, rule.severity, bad == 0, bad, details))
        elif rule.expectation_type == "crmwh_totals_reconcile":
            results.append(_totals_reconcile(con, settings, suite, rule, batch_id))
        elif rule.expectation_type == "crmwh_source_columns_mapped":
            results.append(_source_columns_mapped(con, suite, rule, batch_id))
        elif rule.expectation_type == "crmwh_loaded_totals_reconcile":
            results.append(_loaded_totals_reconcile(con, rule, params.get("batch_ids") or [batch_id]))
    if counted:
        counts = con.execute(f"select {', '.join(expr for _, expr in counted)} from {CHECK_TABLE}").fetchone()  # noqa: S608
        for (rule, _), n in zip(counted, counts, strict=True):
            results.append(RuleResult(rule.rule_id, rule.expectation_type, rule.severity, n == 0, int(n)))
    order = {r.rule_id: i for i, r in enumerate(suite.rules)}
    results.sort(key=lambda r: order.get(r.rule, -1))
    reasons = {r.rule_id: r.reason for r in suite.rules}
    for r in results:
        if not r.success and r.details and "message" not in r.details and r.rule in reasons:
            r.details["message"] = reasons[r.rule].format_map(_Blank(r.details))
    flagged = None
    if flags and "_source_row" in available:
        con.execute(f"create or replace temp table {FLAGGED_TABLE} as select _source_row from {CHECK_TABLE} "  # noqa: S608
                    f"where {' or '.join(f'({f})' for f in flags)}")
        flagged = FLAGGED_TABLE
    return _Evaluation(rows_checked, results, row_rules, params, flags, flagged)


def _totals_reconcile(con: duckdb.DuckDBPyConnection, settings: Settings, suite: Suite, rule: Rule,
                      batch_id: str) -> RuleResult:
    """Per order touched by the batch, the sum of its line amounts equals the order total the source gives.

    The order's lines are this batch's lines (before quarantine), the current lines other batches left
    in staging, and lines held in quarantine (their raw amount; also this batch's own when it is
    validated again): an order whose lines arrive over several batches is judged on all of them.
    Orders not staged (yet) are not judged.
    """
    kw = rule.kwargs
    orders = kw["orders_table"]
    if not _table_exists(con, orders):
        return RuleResult(rule.rule_id, rule.expectation_type, rule.severity, True, 0,
                          {"skipped": f"{orders} not staged"})
    tol = float(settings.validation.reconcile_tolerance)
    key, amount = kw["line_order_key"], kw["line_amount"]
    line_key, line_amount = _col(key), _col(amount)
    line_id = _col(kw["line_id"])
    staging = f"staging.{checked_identifier(suite.table)}"
    quarantine = f"quarantine.{checked_identifier(suite.table)}"
    key_type = _table_columns(con, staging).get(key, "varchar")
    raw_key, raw_amount, raw_id = _literal(f"$.{key}"), _literal(f"$.{amount}"), _literal(f"$.{kw['line_id']}")
    version = _col(kw.get("order_version") or "_source_row")
    bad = con.execute(
        f"""with touched as (select distinct {line_key} as k from {CHECK_TABLE} where {line_key} is not null),
                 batch_ids as (select {line_id} as id from {CHECK_TABLE} where {line_id} is not null),
                 other as (
                     select s.{line_key} as k, s.{line_amount} as amount from {staging} s
                     where s._batch_id <> ? and s.{line_key} in (select k from touched)
                       and s.{line_id} not in (select id from batch_ids)
                     union all
                     select try_cast(json_extract_string(q.raw_record, {raw_key}) as {key_type}),
                            try_cast(json_extract_string(q.raw_record, {raw_amount}) as decimal(18, 2))
                     from {quarantine} q where q.replayed_at is null
                       and coalesce(json_extract_string(q.raw_record, {raw_id}), '') not in
                           (select id::varchar from batch_ids)
                 ),
                 sums as (select k, sum(coalesce(amount, 0)) as amount from (
                              select {line_key} as k, {line_amount} as amount from {CHECK_TABLE} where {line_key} is not null
                              union all
                              select k, amount from other where k in (select k from touched)) group by k),
                 totals as (select {_col(kw["order_key"])} as k, arg_max({_col(kw["order_total"])}, {version}) as total
                            from {orders} where {_col(kw["order_key"])} in (select k from touched) group by all)
            select count(*), list(s.k::varchar order by s.k)[1:10]
            from sums s join totals t using (k) where abs(s.amount - t.total) > {tol}""",  # noqa: S608
        [batch_id],
    ).fetchone()
    n = int(bad[0])
    return RuleResult(rule.rule_id, rule.expectation_type, rule.severity, n == 0, n,
                      {"orders_unreconciled": n, "sample_orders": bad[1] or [], "tolerance": tol})


def _loaded_totals_reconcile(con: duckdb.DuckDBPyConnection, rule: Rule, batch_ids: list[str]) -> RuleResult:
    """What the batches staged (after quarantine) is what the core table holds: every staged row is
    there, and the measures add up to the same totals (core totals = staging totals - quarantined)."""
    kw = rule.kwargs
    core = kw["core_table"]
    key = _col(kw["core_key"])
    details: dict[str, Any] = {"sources": {}}
    failures = 0
    for src in kw["sources"]:
        staging = src["staging_table"]
        if not _table_exists(con, staging) or not _table_exists(con, core):
            continue
        measures = src["measures"]  # core column -> staging expression
        # narrow: the key and the measures only (the window sorts every staged row of the batches)
        picked = ", ".join(f"{expr} as _m{i}" for i, expr in enumerate(measures.values()))
        staged_cols = ", ".join(f"sum(_m{i}) as {_col(c)}" for i, c in enumerate(measures))
        core_cols = ", ".join(f"sum(f.{_col(c)}) as {_col(c)}" for c in measures)
        row = con.execute(
            f"""with staged as (
                    select {src["key_sql"]} as k, {picked} from {staging}
                    where _batch_id in (select unnest(?::varchar[])) and ({src.get("where", "true")})
                    qualify row_number() over (partition by k order by _source_row desc) = 1),
                s as (select count(*) as n, {staged_cols} from staged),
                c as (select count(f.{key}) as n, {core_cols} from staged l join {core} f on f.{key} = l.k)
                select s.*, c.* from s, c""",  # noqa: S608
            [batch_ids]).fetchone()
        n = len(measures) + 1
        staged, loaded = row[:n], row[n:]
        names = ["rows", *measures]
        diff = {name: [str(a), str(b)] for name, a, b in zip(names, staged, loaded, strict=True)
                if (a or 0) != (b or 0)}
        details["sources"][staging] = {name: str(a) for name, a in zip(names, staged, strict=True)}
        if diff:
            failures += 1
            details.setdefault("differences", {})[staging] = diff
    return RuleResult(rule.rule_id, rule.expectation_type, rule.severity, failures == 0, failures, details)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _source_columns_mapped(con: duckdb.DuckDBPyConnection, suite: Suite, rule: Rule, batch_id: str) -> RuleResult:
    """Every column of a dropped file is mapped by its profile (an extra or renamed column is reported)."""
    staging = f"staging.{checked_identifier(suite.table)}"
    if not {"_profile", "_raw"} <= set(_table_columns(con, staging)):
        return RuleResult(rule.rule_id, rule.expectation_type, rule.severity, True, 0, {"skipped": "not a file drop"})
    # the file's own record (its header) is kept in raw._record; staging's _raw may be canonical already
    source = staging
    record = "_raw"
    raw_table = rule.kwargs.get("raw_table")
    if raw_table and _table_exists(con, raw_table) and "_record" in _table_columns(con, raw_table):
        source, record = raw_table, "_record"
    row = con.execute(
        f"select (select _profile from {staging} where _batch_id = ? limit 1), json_keys({record}::json) "  # noqa: S608
        f"from {source} where _batch_id = ? limit 1", [batch_id, batch_id]).fetchone()
    if row is None or row[0] is None:
        return RuleResult(rule.rule_id, rule.expectation_type, rule.severity, True, 0)
    from warehouse.profiles import batch_profile

    header = list(row[1] or [])
    found, _ = batch_profile(con, batch_id, row[0]).match_columns(header)
    unmapped = sorted(set(header) - set(found.values()))
    return RuleResult(rule.rule_id, rule.expectation_type, rule.severity, not unmapped, len(unmapped),
                      {"unmapped": ", ".join(unmapped), "profile": row[0]} if unmapped else {})


def _candidates(ev: _Evaluation) -> str:
    """The check rows worth looking at for quarantine: the flagged ones when they were collected."""
    if ev.flagged_table:
        return f"(select * from {CHECK_TABLE} where _source_row in (select _source_row from {ev.flagged_table}))"  # noqa: S608
    return CHECK_TABLE


def _quarantine_sql(row_rules: list[tuple[Rule, str]], available: set[str], source: str = CHECK_TABLE) -> str:
    """One row per failing row: every error rule it broke and their filled reasons. The per-rule lists
    are only built for the (few) rows that fail something."""
    any_failure = " or ".join(f"({pred})" for _, pred in row_rules)
    rule_items = ", ".join(f"case when {pred} then {_literal(rule.rule_id)} end" for rule, pred in row_rules)
    reason_items = ", ".join(f"case when {pred} then {reason_sql(rule.reason, available)} end"
                             for rule, pred in row_rules)
    return f"""
        select _source_row,
               list_filter([{rule_items}], lambda x: x is not null) as rules,
               array_to_string(list_filter([{reason_items}], lambda x: x is not null), '; ') as reason
        from (select * from {source} where {any_failure})
    """  # noqa: S608


def _drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    names = [r[0] for r in con.execute(
        "select table_name from duckdb_tables() where database_name = 'temp' "
        "and (table_name in (?, ?) or table_name like '\\_dup\\_%' escape '\\')", [CHECK_TABLE, FLAGGED_TABLE]).fetchall()]
    for name in names:
        con.execute(f"drop table if exists temp.{checked_identifier(name)}")


def _record(con: duckdb.DuckDBPyConnection, table: str, batch_id: str, rows_checked: int,
            results: list[RuleResult]) -> None:
    con.execute("delete from audit.validation_results where batch_id = ? and table_name = ?", [batch_id, table])
    rows = [(batch_id, table, "_rows_checked", "crmwh_rows_checked", "warning", True, 0, rows_checked, None)]
    rows += [(batch_id, table, r.rule, r.expectation_type, r.severity, r.success, r.unexpected_count,
              rows_checked, json.dumps(r.details, default=str) if r.details else None) for r in results]
    con.executemany(
        """insert into audit.validation_results
           (batch_id, table_name, rule, expectation_type, severity, success, unexpected_count, rows_checked, details)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?)""", rows)


def _great_expectations(con: duckdb.DuckDBPyConnection, settings: Settings, suite: Suite, batch_id: str,
                        ev: _Evaluation) -> None:
    """Run the suite through GE (report + Data Docs); note its counts beside ours; never decides quarantine."""
    from warehouse.data_docs import run_suite

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
        if not _table_exists(con, "audit.validation_results"):  # normally made by warehouse.db.migrate
            for schema in ("audit", "quarantine"):
                con.execute(f"create schema if not exists {schema}")
            con.execute(VALIDATION_DDL.read_text(encoding="utf-8"))
        ensure_quarantine_table(con, table)
        with catalog_snapshot(con):
            columns = build_check_relation(con, suite, batch_id)
            ev = evaluate(con, settings, suite, batch_id, columns, {"unique_across_staging": replay})
        critical = [r.rule for r in ev.results if not r.success and r.severity == "critical"]
        if settings.validation.data_docs_enabled:
            _great_expectations(con, settings, suite, batch_id, ev)
        warnings = sum(1 for r in ev.results if not r.success and r.severity == "warning")
        moved = 0
        if not critical:
            if ev.row_rules:
                any_failure = " or ".join(f"({pred})" for _, pred in ev.row_rules)
                candidates = _candidates(ev)
                expected = con.execute(
                    f"select count(*) filter (where {any_failure}) from {candidates}").fetchone()[0]  # noqa: S608
                moved = quarantine_from(con, table, batch_id, _quarantine_sql(ev.row_rules, set(columns), candidates))
                if moved != expected:  # never lose a bad row silently (e.g. an engine bug in filtered reads)
                    raise CrmwhError(f"validation of {table} batch {batch_id}: {expected} row(s) broke error rules "
                                     f"but {moved} moved to quarantine; nothing was changed")
            _record(con, table, batch_id, ev.rows_checked, ev.results)
        _drop_work_tables(con)
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
            _record(side, table, batch_id, ev.rows_checked, ev.results)
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
    with catalog_snapshot(con):
        columns = build_check_relation(con, suite, None, source_table=f"core.{checked_identifier(table)}",
                                       where=_written_rows(con, suite, table))
        ev = evaluate(con, settings, suite, label, columns, {"batch_ids": list(batch_ids)})
    critical = [r.rule for r in ev.results if not r.success and r.severity == "critical"]
    warnings = sum(1 for r in ev.results if not r.success and r.severity != "critical")
    if not _table_exists(con, "audit.validation_results"):
        con.execute(VALIDATION_DDL.read_text(encoding="utf-8"))
    _record(con, table, label, ev.rows_checked, ev.results)
    _drop_work_tables(con)
    render_site_if_enabled(con, settings, {table})
    outcome = ValidationOutcome(table, label, ev.rows_checked, 0, warnings, critical, ev.results)
    if critical:
        details = "; ".join(f"{r.rule} ({r.details or r.unexpected_count})" for r in ev.results if r.rule in critical)
        raise CriticalValidationError(f"core.{table} after loading {label}: critical rule(s) failed: {details}")
    return outcome


# the rule kinds whose outcome over the rows a load wrote is their outcome over the whole table, given
# the table held before (a failed critical rule rolls the load back): row rules, uniqueness of the key
# the writes are recorded by (every row holding a written key is checked), the column set, and the
# reconciliation with staging (which reads the batches, not the check relation)
_SCOPABLE_TYPES = frozenset({"expect_table_columns_to_match_set", "crmwh_loaded_totals_reconcile"})


def _written_rows(con: duckdb.DuckDBPyConnection, suite: Suite, table: str) -> str | None:
    """The rows of ``core.<table>`` worth checking after a load: those whose key the load wrote (the
    record of :func:`warehouse.core_writes.recording_writes`) plus any without a key; None = every row
    (no record, the table was empty before, or a rule of the suite needs the whole table).

    A load changes fact rows otherwise only by re-pointing type-2 keys (``refresh_fact_keys``: always a
    version or the unknown customer, never NULL), by the as-of columns (SLA, days late: no rule reads
    them) and by deleting rows (which the reconciliation with staging counts)."""
    scope = written_scope(con, table)
    if scope is None:
        return None
    key, ids = scope
    for rule in suite.rules:
        if rule.is_row_rule or rule.expectation_type in _SCOPABLE_TYPES:
            continue
        if rule.expectation_type in UNIQUE_TYPES and (rule.kwargs.get("column_list") or [rule.kwargs["column"]]) == [key]:
            continue
        return None
    return f"s.{_col(key)} in ({ids}) or s.{_col(key)} is null"


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
    if not _table_exists(con, "audit.validation_results"):
        for schema in ("audit", "quarantine"):
            con.execute(f"create schema if not exists {schema}")
        con.execute(VALIDATION_DDL.read_text(encoding="utf-8"))
    outcomes: list[ValidationOutcome] = []
    for suite in marts_suites():
        source = f"{MARTS_SCHEMA}.{checked_identifier(suite.table)}"
        with catalog_snapshot(con):
            if not _table_exists(con, source):
                continue
            source_columns = list(_table_columns(con, source))
            columns = build_check_relation(con, suite, None, source_table=source)
            ev = evaluate(con, settings, suite, run_id, columns, {"source_columns": source_columns})
        _record(con, suite.table, run_id, ev.rows_checked, ev.results)
        _drop_work_tables(con)
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
