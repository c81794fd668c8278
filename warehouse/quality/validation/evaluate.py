"""Evaluation of a suite over the check relation: every row rule counted in one scan, uniqueness by a
hash aggregate (only duplicated rows ranked), the table-level rules (row count, column set) and
crmwh's own checks (order totals, the file's columns mapped, core = staging - quarantined)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from warehouse.foundation.db import column_types, table_exists
from warehouse.foundation.settings import Settings
from warehouse.foundation.sqltext import quote_ident
from warehouse.ingest.quarantine import checked_identifier
from warehouse.quality.suites import UNIQUE_TYPES, Rule, Suite, resolve, suite_parameters
from warehouse.quality.validation.check import CHECK_TABLE, FLAGGED_TABLE
from warehouse.quality.validation.results import RuleResult
from warehouse.quality.validation.rule_sql import condition_sql, failure_predicate, literal


@dataclass
class Evaluation:
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
             columns: list[str], extra_params: dict[str, Any] | None = None) -> Evaluation:
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
            not_null = " and ".join(f"{quote_ident(k)} is not null" for k in keys)
            not_null += f" and ({condition_sql(rule.kwargs.get('row_condition'))})"
            # Duplicated keys by a hash aggregate (cheap), then rank only the few duplicated rows. GE
            # counts every member of a duplicated group; quarantine keeps the first of each group.
            dups = f"_dup_{len(flags)}_{len(results)}"
            order = "c._source_row" if "_source_row" in available else "c.rowid"
            row_id = "_source_row" if "_source_row" in available else "rowid"
            keys_alias = ", ".join(f"{quote_ident(k)} as _k{i}" for i, k in enumerate(keys))
            on = " and ".join(f"c.{quote_ident(k)} = d._k{i}" for i, k in enumerate(keys))
            staged_keys = ""
            staging = f"staging.{checked_identifier(suite.table)}"
            if params.get("unique_across_staging") and table_exists(con, staging, views=True):
                # replay: a key already held by a staged (loaded) row makes every replayed copy a repeat
                staged_keys = (f"union all select {keys_alias}, true as _staged from {staging} "
                               f"where _batch_id <> {literal(batch_id)} and {not_null}")
            key_names = ", ".join(f"_k{i}" for i in range(len(keys)))
            partition = ", ".join("c." + quote_ident(k) for k in keys)
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
            results.append(_loaded_totals_reconcile(con, rule, params.get("batch_ids") or [batch_id],
                                                    params.get("core_rows")))
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
    return Evaluation(rows_checked, results, row_rules, params, flags, flagged)


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
    if not table_exists(con, orders, views=True):
        return RuleResult(rule.rule_id, rule.expectation_type, rule.severity, True, 0,
                          {"skipped": f"{orders} not staged"})
    tol = float(settings.validation.reconcile_tolerance)
    key, amount = kw["line_order_key"], kw["line_amount"]
    line_key, line_amount = quote_ident(key), quote_ident(amount)
    line_id = quote_ident(kw["line_id"])
    staging = f"staging.{checked_identifier(suite.table)}"
    quarantine = f"quarantine.{checked_identifier(suite.table)}"
    key_type = column_types(con, staging).get(key, "varchar")
    raw_key, raw_amount, raw_id = literal(f"$.{key}"), literal(f"$.{amount}"), literal(f"$.{kw['line_id']}")
    version = quote_ident(kw.get("order_version") or "_source_row")
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
                 totals as (select {quote_ident(kw["order_key"])} as k, arg_max({quote_ident(kw["order_total"])}, {version}) as total
                            from {orders} where {quote_ident(kw["order_key"])} in (select k from touched) group by all)
            select count(*), list(s.k::varchar order by s.k)[1:10]
            from sums s join totals t using (k) where abs(s.amount - t.total) > {tol}""",  # noqa: S608
        [batch_id],
    ).fetchone()
    n = int(bad[0])
    return RuleResult(rule.rule_id, rule.expectation_type, rule.severity, n == 0, n,
                      {"orders_unreconciled": n, "sample_orders": bad[1] or [], "tolerance": tol})


def _loaded_totals_reconcile(con: duckdb.DuckDBPyConnection, rule: Rule, batch_ids: list[str],
                             core_rows: str | None = None) -> RuleResult:
    """What the batches staged (after quarantine) is what the core table holds: every staged row is
    there, and the measures add up to the same totals (core totals = staging totals - quarantined).
    ``core_rows``: the relation of the core rows the load wrote (every row of a key it delivered), read
    instead of the whole table."""
    kw = rule.kwargs
    core = core_rows or kw["core_table"]
    key = quote_ident(kw["core_key"])
    details: dict[str, Any] = {"sources": {}}
    failures = 0
    for src in kw["sources"]:
        staging = src["staging_table"]
        if not table_exists(con, staging, views=True) or not (core_rows or table_exists(con, core, views=True)):
            continue
        measures = src["measures"]  # core column -> staging expression
        # narrow: the key and the measures only (the window sorts every staged row of the batches)
        picked = ", ".join(f"{expr} as _m{i}" for i, expr in enumerate(measures.values()))
        staged_cols = ", ".join(f"sum(_m{i}) as {quote_ident(c)}" for i, c in enumerate(measures))
        core_cols = ", ".join(f"sum(f.{quote_ident(c)}) as {quote_ident(c)}" for c in measures)
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
    if not {"_profile", "_raw"} <= set(column_types(con, staging)):
        return RuleResult(rule.rule_id, rule.expectation_type, rule.severity, True, 0, {"skipped": "not a file drop"})
    # the file's own record (its header) is kept in raw._record; staging's _raw may be canonical already
    source = staging
    record = "_raw"
    raw_table = rule.kwargs.get("raw_table")
    if raw_table and table_exists(con, raw_table, views=True) and "_record" in column_types(con, raw_table):
        source, record = raw_table, "_record"
    row = con.execute(
        f"select (select _profile from {staging} where _batch_id = ? limit 1), json_keys({record}::json) "  # noqa: S608
        f"from {source} where _batch_id = ? limit 1", [batch_id, batch_id]).fetchone()
    if row is None or row[0] is None:
        return RuleResult(rule.rule_id, rule.expectation_type, rule.severity, True, 0)
    from warehouse.ingest.profiles import batch_profile

    header = list(row[1] or [])
    found, _ = batch_profile(con, batch_id, row[0]).match_columns(header)
    unmapped = sorted(set(header) - set(found.values()))
    return RuleResult(rule.rule_id, rule.expectation_type, rule.severity, not unmapped, len(unmapped),
                      {"unmapped": ", ".join(unmapped), "profile": row[0]} if unmapped else {})
