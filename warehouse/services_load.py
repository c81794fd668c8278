"""Loading the services agency's facts into ``core`` (called by ``warehouse.load`` in the same transaction).

Each fact has one SQL model in ``sql/core/`` (its header states the grain, the inputs and how it is
written); this module adds the conformed keys (the customer and product versions valid at the event,
employees, date keys) and upserts by id with the same content-hash rule as the other facts, so a re-run
leaves the tables identical and soft-deleted source rows leave ``core``:

- ``fct_lead`` (one row per lead), ``fct_opportunity`` (accumulating snapshot: the first time each
  stage was entered), ``fct_opportunity_stage`` (one row per stage change), ``fct_contract`` (one row
  per contract, with its renewal chain), ``fct_service_step`` (one row per step: due, done, SLA met).
- ``dim_service_step`` is the SLA file (``warehouse/rules/service_sla.toml``) as a table.

A fact is loaded only when the staging tables its model reads exist (a shop's CRM stages them empty).
``fct_service_step.sla_met`` / ``days_late`` of open steps are as of the latest cut-off loaded, like a
ticket's SLA breach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from warehouse.core_writes import table_exists, upsert_fact, version_lookup
from warehouse.db import read_sql
from warehouse.rules import load_service_processes, service_steps_frame_rows

SERVICES_FACTS: tuple[str, ...] = ("fct_lead", "fct_opportunity", "fct_opportunity_stage", "fct_contract",
                                   "fct_service_step")
# staging tables each model reads
INPUTS: dict[str, tuple[str, ...]] = {
    "fct_lead": ("stg_crm__leads", "stg_crm__opportunities"),
    "fct_opportunity": ("stg_crm__opportunities", "stg_crm__opportunity_stage_history", "stg_crm__leads"),
    "fct_opportunity_stage": ("stg_crm__opportunity_stage_history", "stg_crm__opportunities", "stg_crm__leads"),
    "fct_contract": ("stg_crm__contracts", "stg_crm__opportunities", "stg_crm__products"),
    "fct_service_step": ("stg_crm__service_steps", "stg_crm__service_orders", "stg_crm__orders",
                         "stg_crm__contracts", "stg_crm__products"),
}
# the inputs whose staged rows decide what the model rewrites (its "touched" CTE)
DRIVERS: dict[str, tuple[str, ...]] = {
    "fct_lead": ("stg_crm__leads", "stg_crm__opportunities"),
    "fct_opportunity": ("stg_crm__opportunities", "stg_crm__opportunity_stage_history", "stg_crm__leads"),
    "fct_opportunity_stage": ("stg_crm__opportunity_stage_history", "stg_crm__opportunities"),
    "fct_contract": ("stg_crm__contracts",),
    "fct_service_step": ("stg_crm__service_steps", "stg_crm__service_orders"),
}


def _date_key(expr: str) -> str:
    return f"(year({expr}) * 10000 + month({expr}) * 100 + day({expr}))::integer"


def load_service_step_dim(con: duckdb.DuckDBPyConnection) -> None:
    """Replace ``core.dim_service_step`` with the processes of the SLA file (caller's transaction)."""
    rows = sorted(service_steps_frame_rows(load_service_processes()))
    stored = sorted(con.execute("select * from core.dim_service_step").fetchall())
    if [tuple(r) for r in stored] == [tuple(r) for r in rows]:
        return  # unchanged: nothing written
    con.execute("delete from core.dim_service_step")
    if rows:
        con.executemany("insert into core.dim_service_step values (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _ready(con: duckdb.DuckDBPyConnection, fact: str) -> bool:
    """The model's staging inputs exist and one of its drivers got rows in the batches being loaded (a
    shop's empty services tables cost nothing)."""
    if not all(table_exists(con, f"staging.{t}") for t in INPUTS[fact]):
        return False
    touched = " union all ".join(
        f"select 1 from staging.{t} where _batch_id in (select batch_id from _load_batches)" for t in DRIVERS[fact])
    return bool(con.execute(f"select exists ({touched})").fetchall()[0][0])  # noqa: S608 - declared names


@dataclass(frozen=True)
class FactSpec:
    """How a services fact's model rows get their conformed keys."""

    key: str  # the fact's id column
    event: str  # the model column the customer / product versions are looked up at
    product: bool = False
    # (key column, employee id column, the model column holding the employee's CRM id)
    employees: tuple[tuple[str, str, str], ...] = ()
    dates: tuple[tuple[str, str], ...] = ()  # (date key column, model column)
    as_of: tuple[str, ...] = ()  # columns set at each cut-off (outside the content hash)


SPECS: dict[str, FactSpec] = {
    "fct_lead": FactSpec("lead_id", "created_at", employees=(("owner_key", "owner_rep_id", "employee_src_id"),),
                         dates=(("created_date_key", "created_at"),)),
    "fct_opportunity": FactSpec("opportunity_id", "created_at", product=True,
                                employees=(("owner_key", "owner_rep_id", "employee_src_id"),),
                                dates=(("created_date_key", "created_at"), ("closed_date_key", "closed_at"))),
    "fct_opportunity_stage": FactSpec("stage_change_id", "changed_at",
                                      employees=(("owner_key", "owner_rep_id", "employee_src_id"),
                                                 ("changed_by_key", "changed_by_id", "changed_by_src_id")),
                                      dates=(("date_key", "changed_at"),)),
    "fct_contract": FactSpec("contract_id", "start_date", product=True,
                             employees=(("owner_key", "owner_rep_id", "employee_src_id"),
                                        ("agent_key", "agent_id", "agent_src_id")),
                             dates=(("start_date_key", "start_date"), ("end_date_key", "end_date"))),
    "fct_service_step": FactSpec("step_id", "started_at", product=True,
                                 employees=(("agent_key", "agent_id", "employee_src_id"),),
                                 dates=(("due_date_key", "due_at"), ("completed_date_key", "completed_at")),
                                 as_of=("sla_met", "days_late")),
}


def _load_fact(con: duckdb.DuckDBPyConnection, fact: str) -> None:
    """Run the fact's SQL model, add the conformed keys and upsert it (caller's transaction)."""
    spec = SPECS[fact]
    con.execute(f"create or replace temp table _sv_in as {read_sql(f'core/{fact}.sql')}")
    joins, keys = [], []
    cj, ck = version_lookup("core.dim_customer", "customer_key", "customer_id", "c", "n.customer_id", f"n.{spec.event}")
    joins.append(cj)
    keys.append(f"{ck} as customer_key")
    if spec.product:
        pj, pk = version_lookup("core.dim_product", "product_key", "product_id", "p", "n.product_id", f"n.{spec.event}")
        joins.append(pj)
        keys.append(f"{pk} as product_key")
    for i, (key, id_col, src) in enumerate(spec.employees):
        joins.append(f"left join core.dim_employee e{i} on e{i}._src_id = n.{src}")
        keys += [f"e{i}.employee_key as {key}", f"e{i}.employee_id as {id_col}"]
    keys += [f"{_date_key('n.' + col)} as {key}" for key, col in spec.dates]
    keys += [f"null as {col}" for col in spec.as_of]
    upsert_fact(con, f"core.{fact}", spec.key, f"select n.*, {', '.join(keys)} from _sv_in n {' '.join(joins)}",
                 hash_exclude=spec.as_of)


def load_services_facts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Upsert every services fact whose staging inputs exist (caller's transaction, ``_load_batches``
    set); returns the facts loaded."""
    loaded = []
    for fact in SERVICES_FACTS:
        if _ready(con, fact):
            _load_fact(con, fact)
            loaded.append(fact)
    con.execute("drop table if exists _sv_in")
    return loaded


def refresh_service_sla(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> None:
    """SLA met and days late of every step not settled yet, as of the cut-off: a done step met its SLA
    when completed by its due time (days late = whole days after it, rounded up); an open step past
    its due time has missed it (days overdue so far); an open step not yet due is undecided (NULL)."""
    con.execute("""
        update core.fct_service_step set sla_met = r.met, days_late = r.late from (
            select step_id as sid,
                   case when completed_at is not null then completed_at <= due_at
                        when $as_of::timestamp > due_at then false end as met,
                   case when completed_at is not null
                            then greatest(ceil(date_diff('second', due_at, completed_at) / 86400.0), 0)::integer
                        when $as_of::timestamp > due_at
                            then ceil(date_diff('second', due_at, $as_of::timestamp) / 86400.0)::integer
                   end as late
            from core.fct_service_step where completed_at is null or sla_met is null
        ) r where step_id = r.sid and (sla_met is distinct from r.met or days_late is distinct from r.late)
    """, {"as_of": cutoff})


def date_bounds_sql() -> str:
    """The dates the services facts fall on (``warehouse.load.extend_dim_date`` covers their years)."""
    return """
        select min(created_at)::date as d from core.fct_lead union all select max(created_at)::date from core.fct_lead
        union all select min(start_date) from core.fct_contract union all select max(end_date) from core.fct_contract
        union all select min(due_at)::date from core.fct_service_step
        union all select max(due_at)::date from core.fct_service_step"""
