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

from datetime import datetime

import duckdb

from warehouse.db import read_sql
from warehouse.load import _exists, _upsert_fact, _version_lookup
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


def _date_key(expr: str) -> str:
    return f"(year({expr}) * 10000 + month({expr}) * 100 + day({expr}))::integer"


def load_service_step_dim(con: duckdb.DuckDBPyConnection) -> None:
    """Replace ``core.dim_service_step`` with the processes of the SLA file (caller's transaction)."""
    rows = service_steps_frame_rows(load_service_processes())
    con.execute("delete from core.dim_service_step")
    if rows:
        con.executemany("insert into core.dim_service_step values (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _ready(con: duckdb.DuckDBPyConnection, fact: str) -> bool:
    return all(_exists(con, f"staging.{t}") for t in INPUTS[fact])


def _customer(ts: str) -> tuple[str, str]:
    return _version_lookup("core.dim_customer", "customer_key", "customer_id", "c", "n.customer_id", ts)


def _product(ts: str) -> tuple[str, str]:
    return _version_lookup("core.dim_product", "product_key", "product_id", "p", "n.product_id", ts)


def _leads(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create or replace temp table _sv_in as {read_sql('core/fct_lead.sql')}")
    cj, ck = _customer("n.created_at")
    _upsert_fact(con, "core.fct_lead", "lead_id", f"""
        select n.*, {ck} as customer_key, e.employee_key as owner_key, e.employee_id as owner_rep_id,
               {_date_key('n.created_at')} as created_date_key
        from _sv_in n {cj}
        left join core.dim_employee e on e._src_id = n.employee_src_id""")


def _opportunities(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create or replace temp table _sv_in as {read_sql('core/fct_opportunity.sql')}")
    cj, ck = _customer("n.created_at")
    pj, pk = _product("n.created_at")
    _upsert_fact(con, "core.fct_opportunity", "opportunity_id", f"""
        select n.*, {ck} as customer_key, {pk} as product_key, e.employee_key as owner_key,
               e.employee_id as owner_rep_id, {_date_key('n.created_at')} as created_date_key,
               {_date_key('n.closed_at')} as closed_date_key
        from _sv_in n {cj} {pj}
        left join core.dim_employee e on e._src_id = n.employee_src_id""")


def _opportunity_stages(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create or replace temp table _sv_in as {read_sql('core/fct_opportunity_stage.sql')}")
    cj, ck = _customer("n.changed_at")
    _upsert_fact(con, "core.fct_opportunity_stage", "stage_change_id", f"""
        select n.*, {ck} as customer_key, e.employee_key as owner_key, e.employee_id as owner_rep_id,
               b.employee_key as changed_by_key, b.employee_id as changed_by_id,
               {_date_key('n.changed_at')} as date_key
        from _sv_in n {cj}
        left join core.dim_employee e on e._src_id = n.employee_src_id
        left join core.dim_employee b on b._src_id = n.changed_by_src_id""")


def _contracts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create or replace temp table _sv_in as {read_sql('core/fct_contract.sql')}")
    cj, ck = _customer("n.start_date")
    pj, pk = _product("n.start_date")
    _upsert_fact(con, "core.fct_contract", "contract_id", f"""
        select n.*, {ck} as customer_key, {pk} as product_key, e.employee_key as owner_key,
               e.employee_id as owner_rep_id, a.employee_key as agent_key, a.employee_id as agent_id,
               {_date_key('n.start_date')} as start_date_key, {_date_key('n.end_date')} as end_date_key
        from _sv_in n {cj} {pj}
        left join core.dim_employee e on e._src_id = n.employee_src_id
        left join core.dim_employee a on a._src_id = n.agent_src_id""")


def _service_steps(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create or replace temp table _sv_in as {read_sql('core/fct_service_step.sql')}")
    cj, ck = _customer("n.started_at")
    pj, pk = _product("n.started_at")
    _upsert_fact(con, "core.fct_service_step", "step_id", f"""
        select n.*, {ck} as customer_key, {pk} as product_key, e.employee_key as agent_key,
               e.employee_id as agent_id, {_date_key('n.due_at')} as due_date_key,
               {_date_key('n.completed_at')} as completed_date_key, null::boolean as sla_met,
               null::integer as days_late
        from _sv_in n {cj} {pj}
        left join core.dim_employee e on e._src_id = n.employee_src_id""", hash_exclude=("sla_met", "days_late"))


LOADERS = {"fct_lead": _leads, "fct_opportunity": _opportunities, "fct_opportunity_stage": _opportunity_stages,
           "fct_contract": _contracts, "fct_service_step": _service_steps}


def load_services_facts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Upsert every services fact whose staging inputs exist (caller's transaction, ``_load_batches``
    set); returns the facts loaded."""
    loaded = []
    for fact in SERVICES_FACTS:
        if _ready(con, fact):
            LOADERS[fact](con)
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
