"""The weekly care scan: this week's care actions for the owners of the customers (``crm_care``, ``crmwh care``).

``run_care(con, settings, week)`` evaluates every rule of the rules file (``warehouse/core/rules/care_rules.toml``,
or ``settings.services.care_rules_path``) for the week starting Monday ``week.start``: each rule's kind has
a SQL model under ``sql/marts/care/`` that finds its events; ``sql/marts/care_actions.sql`` turns them into
actions (due date from the rule's lead time, owner, the customer's top cross-sell offer where the rule
asks for one) and ranks them per owner against the weekly capacity. Data is read as of the week's start
(Monday 00:00), so re-running a week gives the same list. It writes ``analytics.care_actions`` (the
week's rows replaced: one list per week) and ``marts.care_actions`` (the week just scanned), in one
transaction.

Inputs from other areas are read by their columns and degrade gracefully when missing:
``marts.contract_renewals`` (renewal probability and main driver in the renewal reason),
``marts.customer_retention`` (the value-at-risk rule: a value-at-risk column when there is one, else
the risk score times the customer's 365-day revenue) and ``marts.cross_sell_recommendations``
(customer_id, product_id, product_name, reason).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import duckdb

from warehouse.core.rules import CareRule, load_care_rules, load_service_processes
from warehouse.foundation.db import apply_comments, column_types, read_sql, table_exists, transaction
from warehouse.foundation.settings import Settings
from warehouse.foundation.sqltext import quote_ident

log = logging.getLogger(__name__)

CARE_HISTORY = "analytics.care_actions"
CARE_MART = "marts.care_actions"
# Column candidates in other areas' marts, first present wins.
RETENTION_VALUE_COLUMNS: tuple[str, ...] = ("value_at_risk", "expected_value_at_risk", "clv_at_risk",
                                           "value_at_stake", "revenue_at_risk")
RETENTION_RISK_COLUMNS: tuple[str, ...] = ("risk_score", "churn_risk", "churn_probability")
RETENTION_REASON_COLUMNS: tuple[str, ...] = ("reason_1", "reasons", "top_reason", "reason")
OFFER_RANK_COLUMNS: tuple[str, ...] = ("recommendation_rank", "rank", "offer_rank")

TABLE_COMMENT = ("grain: one row per customer per care action per subject (contract, ticket, deadline) for the week "
                 "scanned; what to do, why, by when, who does it and the offer to make (rules: "
                 "warehouse/core/rules/care_rules.toml)")
COLUMN_COMMENTS: dict[str, str] = {
    "week_start": "Monday the scan's week starts (data as of 00:00 that day)",
    "customer_id": "customer business id",
    "action_code": "the care rule (code in the rules file)",
    "action": "what the owner does",
    "reason": "why, in plain words (what the rule found)",
    "due_date": "when the action is due (the rule's lead time before or after the event)",
    "event_date": "the event: contract end, filing deadline, resolution of a complaint, anniversary, the scan",
    "owner_id": "employee id of the owner (the account's sales rep, the contract's owner or the ticket's agent)",
    "owner_role": "account_rep | contract_owner | ticket_agent",
    "channel": "how to reach the customer (phone, wechat, visit ...)",
    "priority": "1 = first",
    "value_at_stake": "what is at stake: a year of the contract's fees, the value at risk, or the customer's "
                      "revenue of the last 365 days",
    "subject_id": "what the action is about: contract number, ticket id, or customer:year",
    "offer_product_id": "suggested offer (marts.cross_sell_recommendations' top product) where the rule makes one",
    "offer_product_name": "name of the offered product",
    "offer_reason": "why this offer (from the cross-sell recommendations)",
    "owner_rank": "position in the owner's list this week (priority, then value at stake, then due date)",
    "within_capacity": "within the owner's weekly capacity (settings.services.care_capacity_per_owner)",
}
EVENT_COLUMNS = ("rule_code varchar, customer_id varchar, subject_id varchar, event_date date, reason varchar, "
                 "value_at_stake double, contract_owner_id varchar, ticket_agent_id varchar")


@dataclass(frozen=True)
class Week:
    start: dt.date  # a Monday

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=6)

    @classmethod
    def of(cls, day: dt.date) -> Week:
        return cls(day - dt.timedelta(days=day.weekday()))


@dataclass
class CareResult:
    week: Week
    actions: int
    by_rule: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def event_window(rule: CareRule, week: Week) -> tuple[dt.date, dt.date]:
    """The event dates the rule lists in this week's scan (see the rules file's header)."""
    if rule.kind == "value_at_risk":
        return week.start, week.start
    if rule.is_after_event:
        return week.start - dt.timedelta(days=7), week.start - dt.timedelta(days=1)
    lead = dt.timedelta(days=rule.days_before)
    return week.start + lead, week.end + lead


def _first(candidates: tuple[str, ...], present: list[str]) -> str | None:
    return next((c for c in candidates if c in present), None)


# the per-run relations the SQL models read ------------------------------------------------------
def _inputs(con: duckdb.DuckDBPyConnection, settings: Settings, week: Week, rules: list[CareRule],
            notes: list[str]) -> None:
    as_of = dt.datetime.combine(week.start, dt.time())
    con.execute("create or replace temp table _care_rules (code varchar, kind varchar, action varchar, owner varchar, "
                "channel varchar, priority integer, offer boolean, days_before integer, days_after integer)")
    con.executemany("insert into _care_rules values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(r.code, r.kind, r.action, r.owner, r.channel, r.priority, r.offer, r.days_before, r.days_after)
                     for r in rules])
    con.execute(f"create or replace temp table _care_events ({EVENT_COLUMNS})")
    con.execute("""
        create or replace temp table _care_account_reps as
        select customer_id, arg_max(sales_rep_id, valid_from) as sales_rep_id from core.dim_customer
        where customer_key <> 0 and valid_from <= $as_of
        group by customer_id""", {"as_of": as_of})
    con.execute("""
        create or replace temp table _care_customer_value as
        select customer_id, sum(net_amount)::double as value_365d from core.fct_sales_line
        where customer_id is not null and not is_cancelled and order_ts < $as_of
          and order_ts >= $as_of - interval 365 day
        group by customer_id""", {"as_of": as_of})
    # renewal risk from marts.contract_renewals, when built
    cols = list(column_types(con, "marts.contract_renewals")) if table_exists(con, "marts.contract_renewals") else []
    if {"contract_id", "renewal_probability"} <= set(cols):
        driver = "main_driver" if "main_driver" in cols else "null::varchar"
        con.execute(f"create or replace temp view _care_renewal_risk as select contract_id, renewal_probability, "
                    f"{driver} as main_driver from marts.contract_renewals")
    else:
        notes.append("marts.contract_renewals not built: renewal reasons carry no probability")
        con.execute("create or replace temp view _care_renewal_risk as select null::varchar as contract_id, "
                    "null::double as renewal_probability, null::varchar as main_driver where false")
    # offers from marts.cross_sell_recommendations (customer_id, product_id, product_name, reason)
    cols = (list(column_types(con, "marts.cross_sell_recommendations"))
            if table_exists(con, "marts.cross_sell_recommendations") else [])
    if "customer_id" in cols and ("product_id" in cols or "product_name" in cols):
        pid = quote_ident("product_id") if "product_id" in cols else "null"
        pname = quote_ident("product_name") if "product_name" in cols else pid
        reason = quote_ident("reason") if "reason" in cols else "null"
        rank = _first(OFFER_RANK_COLUMNS, cols)
        order = f"{quote_ident(rank)} nulls last, " if rank else ("score desc nulls last, " if "score" in cols else "")
        con.execute(f"""
            create or replace temp view _care_offers as
            select customer_id::varchar as customer_id, {pid}::varchar as offer_product_id,
                   {pname}::varchar as offer_product_name, {reason}::varchar as offer_reason
            from marts.cross_sell_recommendations
            qualify row_number() over (partition by customer_id order by {order}{pid}) = 1""")  # noqa: S608
    else:
        notes.append("marts.cross_sell_recommendations missing (or without customer_id / product columns): no offers")
        con.execute("create or replace temp view _care_offers as select null::varchar as customer_id, "
                    "null::varchar as offer_product_id, null::varchar as offer_product_name, "
                    "null::varchar as offer_reason where false")


def _value_at_risk_sql(con: duckdb.DuckDBPyConnection, rule: CareRule, notes: list[str]) -> str | None:
    """The value-at-risk rule's events from marts.customer_retention, by the columns it has."""
    if not table_exists(con, "marts.customer_retention"):
        notes.append(f"{rule.code}: marts.customer_retention not built: skipped")
        return None
    cols = list(column_types(con, "marts.customer_retention"))
    value = _first(RETENTION_VALUE_COLUMNS, cols)
    risk = _first(RETENTION_RISK_COLUMNS, cols)
    if "customer_id" not in cols or (value is None and risk is None):
        notes.append(f"{rule.code}: marts.customer_retention has no customer_id / value-at-risk / risk column: skipped")
        return None
    if value is not None:
        stake = f"r.{quote_ident(value)}::double"
    else:
        stake = f"r.{quote_ident(risk)}::double * coalesce(v.value_365d, 0)"
        notes.append(f"{rule.code}: no value-at-risk column in marts.customer_retention: risk score x 365-day revenue")
    bands = [str(b) for b in rule.params.get("risk_bands", ["high"])]
    if "risk_band" in cols:
        where = "r.risk_band in (" + ", ".join("'" + b.replace("'", "''") + "'" for b in bands) + ")"
    else:
        where = f"r.{quote_ident(risk)} >= {float(rule.params.get('min_risk', 0.6))}" if risk else "true"
    risk_text = (f"'churn risk ' || coalesce(r.risk_band || ' ', '') || '(' || round(100 * r.{quote_ident(risk)})::integer "
                 "|| '%)'" if risk and "risk_band" in cols else
                 f"'churn risk ' || round(100 * r.{quote_ident(risk)})::integer || '%'" if risk else "'churn risk'")
    reason_col = _first(RETENTION_REASON_COLUMNS, cols)
    reason = f" || coalesce('; ' || r.{quote_ident(reason_col)}::varchar, '')" if reason_col else ""
    top_n = int(rule.params.get("top_n", 25))
    return f"""
        select r.customer_id::varchar as customer_id, r.customer_id::varchar as subject_id,
               $event_from::date as event_date,
               {risk_text} || '; value at risk ' || round({stake})::bigint{reason} as reason,
               {stake} as value_at_stake, null::varchar as contract_owner_id, null::varchar as ticket_agent_id
        from marts.customer_retention r
        left join _care_customer_value v on v.customer_id = r.customer_id::varchar
        where {where} and {stake} > 0
        order by value_at_stake desc, customer_id
        limit {top_n}"""  # noqa: S608 - identifiers quoted, values from the rules file


def _rule_events(con: duckdb.DuckDBPyConnection, settings: Settings, rule: CareRule, week: Week,
                 notes: list[str]) -> int:
    """Append one rule's events to ``_care_events``; returns how many."""
    start, end = event_window(rule, week)
    params: dict[str, Any] = {"as_of": dt.datetime.combine(week.start, dt.time()), "event_from": start,
                              "event_to": end}
    if rule.kind == "value_at_risk":
        sql = _value_at_risk_sql(con, rule, notes)
        if sql is None:
            return 0
        params = {"event_from": start}
    elif rule.kind == "filing_deadline":
        processes = load_service_processes()
        process = processes.get(str(rule.params.get("process", "")))
        step = next((s for s in process.steps if s.due_day_of_next_month is not None), None) if process else None
        if process is None or step is None:
            notes.append(f"{rule.code}: process {rule.params.get('process')!r} has no monthly filing step: skipped")
            return 0
        sql = read_sql("marts/care/filing_deadline.sql")
        params.update(deadline_day=int(step.due_day_of_next_month), categories=list(process.categories),
                      process_name=process.name)
    elif rule.kind == "annual_report_deadline":
        sql = read_sql("marts/care/annual_report_deadline.sql")
        params.update(deadline_month=int(rule.params.get("deadline_month", 6)),
                      deadline_day=int(rule.params.get("deadline_day", 30)),
                      categories=[str(c) for c in rule.params.get("categories", ["annual_report"])],
                      holding_days=int(rule.params.get("holding_days", 400)))
    else:
        sql = read_sql(f"marts/care/{rule.kind}.sql")
    before = con.execute("select count(*) from _care_events").fetchall()[0][0]
    con.execute(f"insert into _care_events select {_literal(rule.code)} as rule_code, * from ({sql})", params)
    return int(con.execute("select count(*) from _care_events").fetchall()[0][0]) - int(before)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run_care(con: duckdb.DuckDBPyConnection, settings: Settings, week: Week) -> CareResult:
    """Build the week's care actions (see the module docstring); idempotent for a week and its data."""
    rules = load_care_rules(settings.services.care_rules_path or None)
    result = CareResult(week, 0)
    _inputs(con, settings, week, rules, result.notes)
    for rule in rules:
        result.by_rule[rule.code] = _rule_events(con, settings, rule, week, result.notes)
    params = {"week_start": week.start, "capacity": settings.services.care_capacity_per_owner}
    con.execute(f"create or replace temp table _care_actions as {read_sql('marts/care_actions.sql')}", params)
    # created (and committed) on its own first: see warehouse.ingest.staging._write_staging
    con.execute(f"create table if not exists {CARE_HISTORY} as select * from _care_actions limit 0")
    with transaction(con):
        con.execute(f"delete from {CARE_HISTORY} where week_start = ?", [week.start])
        con.execute(f"insert into {CARE_HISTORY} by name select * from _care_actions")
        con.execute(f"create or replace table {CARE_MART} as select * from _care_actions")
        for table in (CARE_HISTORY, CARE_MART):
            apply_comments(con, table, TABLE_COMMENT, COLUMN_COMMENTS)
    result.actions = int(con.execute(f"select count(*) from {CARE_MART}").fetchall()[0][0])
    for name in ("_care_events", "_care_actions", "_care_rules", "_care_account_reps", "_care_customer_value"):
        con.execute(f"drop table if exists {name}")
    for name in ("_care_offers", "_care_renewal_risk"):
        con.execute(f"drop view if exists {name}")
    for note in result.notes:
        log.info("care scan %s: %s", week.start, note)
    return result
