"""The per-run relations the SQL models read, declared once: name, purpose, definition.

A staging or load step works on a set of batches; the SQL under ``sql/staging`` and ``sql/core`` reads
that set (and a few look-ups derived from it) as the relations below, created as temp tables/views of
the connection by :func:`create_run_relations` at the start of the step. A model's header names the
ones it reads in ``-- inputs:`` (``warehouse.core.model_spec``); a test checks every such name is declared
here.

Definitions bind ``$batch_ids`` (the batches of the step) and, for the load, ``$reporting_currency``. A
relation with ``requires`` falls back to its (empty) ``fallback`` when that table does not exist yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from warehouse.foundation.db import table_exists


def versions_sql(dim: str, key: str, bid: str) -> str:
    """The versions of a type-2 dimension as contiguous ranges ``[_valid_from, _valid_to)``: the first of
    each id widened to -infinity, the open one to +infinity (what
    ``warehouse.core.core_writes.version_lookup`` joins)."""
    return (f"select {bid}, {key}, case when row_number() over (partition by {bid} order by valid_from, {key}) = 1 "
            f"then '-infinity'::timestamp else valid_from end as _valid_from, "
            f"coalesce(valid_to, 'infinity'::timestamp) as _valid_to from {dim}")


@dataclass(frozen=True)
class RunRelation:
    name: str
    step: str  # "stage", "load" (the load's dimensions and facts) or "facts" (once the dimensions merged)
    kind: str  # "table" (materialized) or "view"
    purpose: str
    definition: str
    requires: str | None = None
    fallback: str | None = None


RUN_RELATIONS: tuple[RunRelation, ...] = (
    RunRelation(
        "_stage_batches", "stage", "table",
        "the batches being staged (raw -> staging)",
        "select unnest($batch_ids::varchar[]) as batch_id"),
    RunRelation(
        "_load_batches", "load", "table",
        "the batches being loaded (staging -> core)",
        "select unnest($batch_ids::varchar[]) as batch_id"),
    RunRelation(
        "_loadable_batches", "load", "view",
        "the batches being loaded plus every batch loaded before: never a failed batch, nor one of a run "
        "that died before validating, whose unvalidated rows are still in staging",
        "select batch_id from _load_batches "
        "union all select batch_id from audit.load_batches where status = 'succeeded'"),
    RunRelation(
        "_crm_customer_ids", "facts", "table",
        "CRM source id -> customer business id; materialized once the customers merged, for every fact model of "
        "the load (a view makes each one hash every customer version again)",
        "select distinct _src_id, customer_id from core.dim_customer where source = 'crm' and _src_id is not null"),
    RunRelation(
        "_crm_contract_ids", "load", "view",
        "CRM contract id -> contract number (the services agency's contracts; empty where there are none)",
        "select contract_id as _src_id, contract_number as contract_id from staging.stg_crm__contracts "
        "where _batch_id in (select batch_id from _loadable_batches) and contract_number is not null "
        "qualify row_number() over (partition by contract_id order by updated_at desc nulls last, "
        "_batch_id desc) = 1",
        requires="staging.stg_crm__contracts",
        fallback="select null::bigint as _src_id, null::varchar as contract_id where false"),
    RunRelation(
        "_load_settings", "load", "table",
        "the settings the load SQL reads: reporting_currency (settings.currency.reporting_currency: a CRM "
        "order staged without a currency is in it)",
        "select $reporting_currency::varchar as reporting_currency"),
    RunRelation(
        "_customer_versions", "facts", "table",
        "customer versions as ranges: a fact's customer_key is the one whose [_valid_from, _valid_to) holds its "
        "event time (coalesce(key, 0): the unknown member); what warehouse.core.core_writes.version_lookup joins; "
        "materialized once for every fact model of the load (a view ranks every version again at each use)",
        versions_sql("core.dim_customer", "customer_key", "customer_id")),
    RunRelation(
        "_product_versions", "facts", "table",
        "product versions as ranges, like _customer_versions (no unknown member: NULL)",
        versions_sql("core.dim_product", "product_key", "product_id")),
)
BY_NAME: dict[str, RunRelation] = {r.name: r for r in RUN_RELATIONS}
# the relations each step creates: the facts step has the load's too
STEP_RELATIONS: dict[str, tuple[str, ...]] = {"stage": ("stage",), "load": ("load",), "facts": ("load", "facts")}


def create_run_relations(con: duckdb.DuckDBPyConnection, step: str, batch_ids: list[str], *,
                         reporting_currency: str | None = None) -> None:
    """Create (or replace) every relation of ``step`` for these batches, in declared order (the load
    needs the reporting currency); see :data:`STEP_RELATIONS`."""
    values = {"batch_ids": batch_ids, "reporting_currency": reporting_currency}
    for rel in RUN_RELATIONS:
        if rel.step not in STEP_RELATIONS[step]:
            continue
        definition = rel.definition
        if rel.requires and not table_exists(con, rel.requires):
            definition = rel.fallback or definition
        params = {k: v for k, v in values.items() if f"${k}" in definition}
        if None in params.values():
            raise ValueError(f"run relation {rel.name} needs {', '.join(k for k, v in params.items() if v is None)}")
        con.execute(f"create or replace temp {rel.kind} {rel.name} as {definition}", params or None)
