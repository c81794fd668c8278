"""Loading ``staging`` into the ``core`` star schema: dimensions (type 2 where history matters), facts.

Both steps run in one transaction each over a set of batches (the per-run relations of
``warehouse.foundation.run_relations``: ``_load_batches``, ...); the tables are written by the SQL models of
``sql/core`` through ``warehouse.core.models`` (their headers declare grain, inputs and write):

- :func:`load_dimensions`: ``dim_employee`` (type 1), ``dim_customer`` and ``dim_product`` (type 2 by
  a gaps-and-islands merge of the stored versions with the staged ones, so a backfilled older version
  lands in its place in history and existing surrogate keys survive), the code dimensions, the unknown
  customer (key 0, guest sales), then re-points the facts of the customers/products whose history
  changed to the version valid at their event time.
- :func:`load_facts`: upserts the facts, one ``sql/core/fct_*.sql`` model each (a row is rewritten only
  when its content hash changed, so re-running an interval leaves every core table identical), removes
  facts of soft-deleted source rows, extends ``dim_date``, then closes the batches' accounting (rows
  read = loaded + quarantined, checked), advances the CRM watermarks and marks file drops loaded - all
  in the same commit.

Soft deletes: a deleted customer or product gets a closing type-2 version with ``is_deleted = true``
(it stays current so late facts still resolve); facts of a deleted order, order line, ticket,
interaction or payment are removed from ``core`` (the source row stays in ``raw``/``staging``).
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from warehouse.core import model_spec
from warehouse.core.core_writes import hash_expr, reserve_keys, version_lookup
from warehouse.core.models import write_models, write_plain_models
from warehouse.core.scd2 import CUSTOMER, PRODUCT
from warehouse.foundation.db import read_sql, table_exists
from warehouse.foundation.run_relations import create_run_relations
from warehouse.foundation.settings import Settings
from warehouse.ingest.file_deliveries import replace_redelivered_lines
from warehouse.ingest.quarantine import quarantined_count
from warehouse.ingest.staging import drop_superseded

UNKNOWN_CUSTOMER_ID = "unknown"
CHANNELS = {"web": "Web shop", "store": "Store", "phone": "Phone", "marketplace": "Marketplace",
            "wechat": "WeChat", "email": "E-mail", "visit": "Visit"}
TICKET_TYPES = {"complaint": "Complaint", "inquiry": "Inquiry", "request": "Request", "follow_up": "Follow-up"}
TICKET_STATUSES = {"open": "Open", "in_progress": "In progress", "resolved": "Resolved", "closed": "Closed"}


# --- dimensions ------------------------------------------------------------------------------------

def _load_employees(con: duckdb.DuckDBPyConnection) -> None:
    if not table_exists(con, "staging.stg_crm__employees"):
        return
    cols = ["employee_id", "name", "role", "team", "region", "hire_date", "is_deleted", "_src_id"]
    con.execute(f"create or replace temp table _emp_new as {read_sql('core/dim_employee.sql')}")
    con.execute(f"""
        create or replace temp table _emp_changed as
        select n.*, d.employee_key from _emp_new n left join core.dim_employee d using (employee_id)
        where d.employee_key is null or {hash_expr(cols, 'n')} <> {hash_expr(cols, 'd')}
    """)
    con.execute("delete from core.dim_employee where employee_id in (select employee_id from _emp_changed)")
    new = int(con.execute("select count(*) from _emp_changed where employee_key is null").fetchone()[0])
    first = reserve_keys(con, "core.seq_employee_key", new)
    con.execute(f"""
        insert into core.dim_employee by name
        select coalesce(employee_key, {first} - 1 + row_number() over (
                   partition by employee_key is null order by employee_id)) as employee_key,
               {", ".join(cols)}, _updated_at, _batch_id
        from _emp_changed
    """)


def _seed_codes(con: duckdb.DuckDBPyConnection, table: str, prefix: str, sequence: str, names: dict[str, str],
                seen_sql: list[str]) -> None:
    """Seed a code dimension with its known codes (and key 0 = unknown), then add codes seen in staging."""
    con.execute(f"insert into {table} select 0, 'unknown', 'Unknown' where not exists "
                f"(select 1 from {table} where {prefix}_key = 0)")
    # known codes first, in their declared order, then codes seen in staging by name
    con.execute("create or replace temp table _codes (code varchar, name varchar, pos integer)")
    con.executemany("insert into _codes values (?, ?, ?)", [(c, n, i) for i, (c, n) in enumerate(names.items())])
    for sql in seen_sql:
        con.execute(f"insert into _codes select distinct code, null, null from ({sql}) where code is not null")
    con.execute(f"""
        create or replace temp table _codes_new as
        select code, max(name) as name, min(pos) as pos from _codes
        where code not in (select {prefix}_code from {table}) group by code
    """)
    first = reserve_keys(con, sequence, int(con.execute("select count(*) from _codes_new").fetchone()[0]))
    con.execute(f"""
        insert into {table} ({prefix}_key, {prefix}_code, {prefix}_name)
        select {first} - 1 + row_number() over (order by pos nulls last, code), code,
               coalesce(name, replace(upper(left(code, 1)) || substr(code, 2), '_', ' '))
        from _codes_new
    """)


def _load_code_dims(con: duckdb.DuckDBPyConnection) -> None:
    batch = "_batch_id in (select batch_id from _load_batches)"
    channel_sources = []
    for table in ("stg_crm__orders", "stg_crm__service_tickets", "stg_crm__interactions"):
        if table_exists(con, f"staging.{table}"):
            channel_sources.append(f"select channel as code from staging.{table} where {batch}")
    if table_exists(con, "staging.stg_files__sales_lines"):
        channel_sources.append(f"select channel as code from staging.stg_files__sales_lines where {batch}")
    _seed_codes(con, "core.dim_channel", "channel", "core.seq_channel_key", CHANNELS, channel_sources)
    tickets = table_exists(con, "staging.stg_crm__service_tickets")
    _seed_codes(con, "core.dim_ticket_type", "ticket_type", "core.seq_ticket_type_key", TICKET_TYPES,
                [f"select ticket_type as code from staging.stg_crm__service_tickets where {batch}"] if tickets else [])
    _seed_codes(con, "core.dim_ticket_status", "ticket_status", "core.seq_ticket_status_key", TICKET_STATUSES,
                [f"select status as code from staging.stg_crm__service_tickets where {batch}"] if tickets else [])


def _ensure_unknown_customer(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""
        insert into core.dim_customer (customer_key, customer_id, source, name, valid_from, valid_to,
                                       is_current, is_deleted)
        select 0, '{UNKNOWN_CUSTOMER_ID}', 'unknown', 'Unknown customer (guest sales)',
               timestamp '1900-01-01', null, true, false
        where not exists (select 1 from core.dim_customer where customer_key = 0)
    """)


# the core tables with a loader of their own here (the type-2 merge re-points the facts; the rest of
# the models: write_plain_models)
OWN_LOADERS = frozenset({"core.dim_customer", "core.dim_product"})

FACT_TIME = {
    "core.fct_sales_line": ("sales_line_id", "order_ts"),
    "core.fct_service_ticket": ("ticket_id", "opened_at"),
    "core.fct_interaction": ("interaction_id", "occurred_at"),
    "core.fct_payment": ("payment_id", "due_date::timestamp"),
}


def refresh_fact_keys(con: duckdb.DuckDBPyConnection, dim: str, key: str, bid: str) -> None:
    """Re-point facts of the ids in ``_scd_aff`` to the dimension version valid at their event time.

    Only the facts of those ids are read (a semi-join on the business id, with the key they hold), their
    versions are looked up among the ids' own, and a fact is updated only when its key changed (usually
    none: a new version starts after the facts already loaded). A fact none of whose event times reaches
    the earliest moved version range (``_scd_since``, set by :func:`merge_scd2`) is not read at all."""
    versions = f"(select * from {dim} where {bid} in (select id from _scd_aff))"
    for fact, (fid, ts) in FACT_TIME.items():
        if key == "product_key" and fact != "core.fct_sales_line":
            continue
        reached = con.execute(f"select (select since from _scd_since) = '-infinity'::timestamp "  # noqa: S608
                              f"or coalesce(max({ts}) >= (select since from _scd_since), false) "
                              f"from {fact}").fetchone()[0]
        if not reached:
            continue
        product = key == "product_key"
        joins, expr = version_lookup(versions, key, bid, "d", f"s.{bid}", "s._ts")
        con.execute(f"""create or replace temp table _rekey_src as
                        select {fid} as fid, {bid}, {ts} as _ts, {key} as _old{", is_merchandise as _old_merch" if product else ""}
                        from {fact} where {bid} in (select id from _scd_aff)""")
        con.execute(f"""
            create or replace temp table _rekey as
            select r.fid, r.k{", p.is_merchandise" if product else ""}
            from (select s.*, {expr} as k from _rekey_src s {joins}) r
            {"left join core.dim_product p on p.product_key = r.k" if product else ""}
            where r.k is distinct from r._old{" or p.is_merchandise is distinct from r._old_merch" if product else ""}
        """)
        if not con.execute("select exists (select 1 from _rekey)").fetchone()[0]:
            continue
        set_extra = ", is_merchandise = r.is_merchandise" if product else ""
        con.execute(f"update {fact} f set {key} = r.k {set_extra} from _rekey r where f.{fid} = r.fid")


def load_dimensions_in(con: duckdb.DuckDBPyConnection, settings: Settings, batch_ids: list[str]) -> None:
    """Load every dimension from the batches' staged rows (caller's transaction)."""
    create_run_relations(con, "load", batch_ids, reporting_currency=settings.currency.reporting_currency)
    _ensure_unknown_customer(con)
    _load_employees(con)
    _load_code_dims(con)
    params = {"non_merchandise_codes": [c.upper() for c in settings.mining.non_merchandise_codes]}
    for spec in (CUSTOMER, PRODUCT):
        written = write_models(con, model_spec.discover_target(spec.table), params=params, stage_as="_dim_incoming")
        if written and written.rows:
            refresh_fact_keys(con, spec.table, spec.key, spec.business_id)
    from warehouse.core.services_load import load_service_step_dim

    load_service_step_dim(con)
    con.execute("update audit.load_batches set step = 'dims_loaded' where batch_id in "
                "(select batch_id from _load_batches)")


# --- facts -----------------------------------------------------------------------------------------

def refresh_open_items(con: duckdb.DuckDBPyConnection, sla_hours: int, cutoff: datetime | None) -> None:
    """SLA breach (first response over the SLA, or none yet and open longer) and days late of unpaid
    payments depend on the as-of time: recomputed at each load's cut-off."""
    as_of = "$as_of::timestamp"
    params = {"as_of": cutoff or datetime.now()}
    con.execute(f"""
        update core.fct_service_ticket set sla_breached = new_value from (
            select ticket_id as tid,
                   date_diff('second', opened_at, coalesce(first_response_at, resolved_at, {as_of})) / 3600.0
                       > {int(sla_hours)} as new_value
            from core.fct_service_ticket
            where sla_breached is null or (first_response_at is null and resolved_at is null)
        ) r where ticket_id = r.tid and sla_breached is distinct from r.new_value
    """, params)
    con.execute(f"""
        update core.fct_payment set days_late = new_value from (
            select payment_id as pid,
                   case when paid_at is not null then greatest(date_diff('day', due_date, paid_at::date), 0)
                        when {as_of}::date > due_date then date_diff('day', due_date, {as_of}::date)
                   end as new_value
            from core.fct_payment where paid_at is null or days_late is null
        ) r where payment_id = r.pid and days_late is distinct from r.new_value
    """, params)


def extend_dim_date(con: duckdb.DuckDBPyConnection) -> None:
    """Cover every whole year that any fact's date falls in (idempotent)."""
    from warehouse.core.services_load import date_bounds_sql as services_date_bounds_sql

    bounds = con.execute(f"""
        select min(d), max(d) from (
            select min(order_ts)::date as d from core.fct_sales_line union all
            select max(order_ts)::date from core.fct_sales_line union all
            select min(opened_at)::date from core.fct_service_ticket union all
            select max(opened_at)::date from core.fct_service_ticket union all
            select min(occurred_at)::date from core.fct_interaction union all
            select max(occurred_at)::date from core.fct_interaction union all
            select min(due_date) from core.fct_payment union all
            select max(due_date) from core.fct_payment union all
            {services_date_bounds_sql()})
    """).fetchone()
    if bounds[0] is None:
        return
    con.execute("""
        insert into core.dim_date
        select (year(d) * 10000 + month(d) * 100 + day(d))::integer, d::date, year(d), quarter(d), month(d),
               monthname(d), weekofyear(d), isodow(d), isodow(d) >= 6
        from (select unnest(generate_series(make_date(year(?::date), 1, 1)::timestamp,
                                            make_date(year(?::date), 12, 31)::timestamp,
                                            interval 1 day)) as d)
        where (year(d) * 10000 + month(d) * 100 + day(d))::integer not in (select date_key from core.dim_date)
    """, [bounds[0], bounds[1]])


def close_batches(con: duckdb.DuckDBPyConnection) -> None:
    """Final accounting of the batches in ``_load_batches``; advance watermarks; mark files loaded."""
    rows = con.execute(
        "select batch_id, source, entity, staging_table, rows_read, max_source_ts, file_sha256, source_kind "
        "from audit.load_batches where batch_id in (select batch_id from _load_batches) and status = 'running'"
    ).fetchall()
    for batch_id, source, entity, staging_table, rows_read, max_ts, sha, kind in rows:
        loaded = 0
        if table_exists(con, f"staging.{staging_table}"):
            loaded = int(con.execute(f"select count(*) from staging.{staging_table} where _batch_id = ?",
                                     [batch_id]).fetchone()[0])
        quarantined = quarantined_count(con, staging_table, batch_id)
        if loaded + quarantined != rows_read:
            raise AssertionError(
                f"batch {batch_id}: rows read {rows_read} != loaded {loaded} + quarantined {quarantined}")
        con.execute(
            "update audit.load_batches set rows_loaded = ?, rows_quarantined = ?, status = 'succeeded', "
            "step = 'loaded', finished_at = ? where batch_id = ?",
            [loaded, quarantined, datetime.now(), batch_id])
        if kind == "database" and max_ts is not None:
            con.execute("""
                insert into audit.watermarks (source, entity, watermark, batch_id, advanced_at)
                values (?, ?, ?, ?, ?)
                on conflict (source, entity) do update set
                    watermark = greatest(audit.watermarks.watermark, excluded.watermark),
                    batch_id = case when excluded.watermark > audit.watermarks.watermark
                                    then excluded.batch_id else audit.watermarks.batch_id end,
                    advanced_at = excluded.advanced_at
            """, [source, entity, max_ts, batch_id, datetime.now()])
        if sha:
            con.execute("update audit.file_registry set status = 'loaded' where sha256 = ?", [sha])


def load_facts_in(con: duckdb.DuckDBPyConnection, settings: Settings, batch_ids: list[str],
                  cutoff: datetime | None) -> None:
    """Load every fact from the batches' staged rows and close the batches (caller's transaction)."""
    # the load's relations plus the merged dimensions' versions as ranges
    create_run_relations(con, "facts", batch_ids, reporting_currency=settings.currency.reporting_currency)
    # every fact's model is the whole table, its keys joined in the SQL (sales lines, tickets,
    # interactions, payments, the services agency's facts, any new one): the generic writer
    write_plain_models(con, "core", handled=OWN_LOADERS)
    replace_redelivered_lines(con)  # a file's new version replaces exactly the lines its old ones delivered
    from warehouse.core import services_load

    # file-only loads have no cut-off and touch no tickets or payments: open items keep their as-of
    if cutoff is not None:
        refresh_open_items(con, settings.validation.first_response_sla_hours, cutoff)
        services_load.refresh_service_sla(con, cutoff)
    extend_dim_date(con)
    close_batches(con)
    drop_superseded(con, batch_ids)
