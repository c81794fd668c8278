"""Loading the services agency's facts into ``core`` (called by ``warehouse.load`` in the same transaction).

Each fact has one SQL model in ``sql/core/`` (its header states the grain, the inputs and how it is
written: ``warehouse.model_spec``), written by ``warehouse.models.write_models``; this module adds the conformed keys (the customer and product versions valid at the event,
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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import duckdb

from warehouse.core_writes import version_lookup
from warehouse.model_spec import Model, load_model
from warehouse.models import write_models
from warehouse.rules import load_service_processes, service_steps_frame_rows

SERVICES_FACTS: tuple[str, ...] = ("fct_lead", "fct_opportunity", "fct_opportunity_stage", "fct_contract",
                                   "fct_service_step")
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


@dataclass(frozen=True)
class FactSpec:
    """How a services fact's model rows get their conformed keys."""

    event: str  # the model column the customer / product versions are looked up at
    product: bool = False
    # (key column, employee id column, the model column holding the employee's CRM id)
    employees: tuple[tuple[str, str, str], ...] = ()
    dates: tuple[tuple[str, str], ...] = ()  # (date key column, model column)


SPECS: dict[str, FactSpec] = {
    "fct_lead": FactSpec("created_at", employees=(("owner_key", "owner_rep_id", "employee_src_id"),),
                         dates=(("created_date_key", "created_at"),)),
    "fct_opportunity": FactSpec("created_at", product=True,
                                employees=(("owner_key", "owner_rep_id", "employee_src_id"),),
                                dates=(("created_date_key", "created_at"), ("closed_date_key", "closed_at"))),
    "fct_opportunity_stage": FactSpec("changed_at",
                                      employees=(("owner_key", "owner_rep_id", "employee_src_id"),
                                                 ("changed_by_key", "changed_by_id", "changed_by_src_id")),
                                      dates=(("date_key", "changed_at"),)),
    "fct_contract": FactSpec("start_date", product=True,
                             employees=(("owner_key", "owner_rep_id", "employee_src_id"),
                                        ("agent_key", "agent_id", "agent_src_id")),
                             dates=(("start_date_key", "start_date"), ("end_date_key", "end_date"))),
    "fct_service_step": FactSpec("started_at", product=True,
                                 employees=(("agent_key", "agent_id", "employee_src_id"),),
                                 dates=(("due_date_key", "due_at"), ("completed_date_key", "completed_at"))),
}


def _conform(spec: FactSpec, model: Model) -> Callable[[str], str]:
    """The select adding a services fact's conformed keys to its model's rows (the columns set at each
    cut-off, the header's ``hash_exclude``, start NULL)."""
    def keyed(source: str) -> str:
        joins, keys = [], []
        cj, ck = version_lookup("core.dim_customer", "customer_key", "customer_id", "c", "n.customer_id",
                                f"n.{spec.event}")
        joins.append(cj)
        keys.append(f"{ck} as customer_key")
        if spec.product:
            pj, pk = version_lookup("core.dim_product", "product_key", "product_id", "p", "n.product_id",
                                    f"n.{spec.event}")
            joins.append(pj)
            keys.append(f"{pk} as product_key")
        for i, (key, id_col, src) in enumerate(spec.employees):
            joins.append(f"left join core.dim_employee e{i} on e{i}._src_id = n.{src}")
            keys += [f"e{i}.employee_key as {key}", f"e{i}.employee_id as {id_col}"]
        keys += [f"{_date_key('n.' + col)} as {key}" for key, col in spec.dates]
        keys += [f"null as {col}" for col in model.write.hash_exclude]
        return f"select n.*, {', '.join(keys)} from {source} n {' '.join(joins)}"

    return keyed


def load_services_facts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Upsert every services fact whose model is ready (its staging inputs exist and one of its drivers
    got rows: the model header's ``requires`` / ``drivers``) through the model writer (caller's
    transaction, the run relations of the load set); returns the facts loaded."""
    loaded = []
    for fact in SERVICES_FACTS:
        model = load_model(f"core/{fact}")
        if write_models(con, [model], conform=_conform(SPECS[fact], model), stage_as="_sv_in"):
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
