"""The services agency's part of the core load (called by ``warehouse.core.load`` in the same transaction).

Its facts are SQL models in ``sql/core/`` whose header states the grain, the inputs and how they are
written (``warehouse.core.model_spec``), conformed keys joined in the SQL through the declared run relations
(``_customer_versions``, ``_product_versions``); ``warehouse.core.models.write_plain_models`` upserts them by
id with the content-hash rule of every fact, so a re-run leaves the tables identical and soft-deleted
source rows leave ``core``:

- ``fct_lead`` (one row per lead), ``fct_opportunity`` (accumulating snapshot: the first time each
  stage was entered), ``fct_opportunity_stage`` (one row per stage change), ``fct_contract`` (one row
  per contract, with its renewal chain), ``fct_service_step`` (one row per step: due, done, SLA met).
- ``dim_service_step`` is the SLA file (``warehouse/core/rules/service_sla.toml``) as a table (this module).

A fact is loaded only when the staging tables its model reads exist and one of its ``drivers`` got rows
(a shop's CRM stages them empty). ``fct_service_step.sla_met`` / ``days_late`` of open steps are as of
the latest cut-off loaded (:func:`refresh_service_sla`), like a ticket's SLA breach.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from warehouse.core.rules import load_service_processes, service_steps_frame_rows


def load_service_step_dim(con: duckdb.DuckDBPyConnection) -> None:
    """Replace ``core.dim_service_step`` with the processes of the SLA file (caller's transaction)."""
    rows = sorted(service_steps_frame_rows(load_service_processes()))
    stored = sorted(con.execute("select * from core.dim_service_step").fetchall())
    if [tuple(r) for r in stored] == [tuple(r) for r in rows]:
        return  # unchanged: nothing written
    con.execute("delete from core.dim_service_step")
    if rows:
        con.executemany("insert into core.dim_service_step values (?, ?, ?, ?, ?, ?, ?, ?)", rows)


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
    """The dates the services facts fall on (``warehouse.core.load.extend_dim_date`` covers their years)."""
    return """
        select min(created_at)::date as d from core.fct_lead union all select max(created_at)::date from core.fct_lead
        union all select min(start_date) from core.fct_contract union all select max(end_date) from core.fct_contract
        union all select min(due_at)::date from core.fct_service_step
        union all select max(due_at)::date from core.fct_service_step"""
