"""The check relation: temp table ``_validation_check``, the rows under check (a staged batch, a core
table or the part of it a load wrote, a mart) narrowed to the columns the suite reads, plus the derived
columns it may name: ``_raw__<col>`` (the source's text, from the raw layer or the staged ``_raw``
JSON), ``_ref__<col>`` (the key of a reference set) and ``_extracted_at``."""

from __future__ import annotations

from typing import Any

import duckdb

from warehouse.foundation.db import column_types, table_exists
from warehouse.foundation.errors import RejectedBatchError
from warehouse.foundation.sqltext import quote_ident
from warehouse.ingest.quarantine import checked_identifier, raw_table_of
from warehouse.quality.suites import Suite
from warehouse.quality.validation.rule_sql import PLACEHOLDER, literal

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


def _reference_sql(con: duckdb.DuckDBPyConnection, reference: str, among: str | None = None) -> str | None:
    """The keys of a reference set as one column ``k`` (text); ``among``: SQL of the only values asked
    about (a batch's), so the set is not built from every key of the reference tables."""
    parts = []
    for qualified, key, where in REFERENCE_SOURCES.get(reference, ()):
        if table_exists(con, qualified, views=True) and key in column_types(con, qualified):
            text = f"{quote_ident(key)}::varchar"
            wanted = f" and {text} in ({among})" if among else ""
            parts.append(f"select distinct {text} as k from {qualified} where ({where}){wanted}")  # noqa: S608
    return " union ".join(parts) if parts else None


def build_check_relation(con: duckdb.DuckDBPyConnection, suite: Suite, batch_id: str | None,
                         source_table: str | None = None) -> list[str]:
    """Create temp table ``_validation_check``: the batch's rows plus the derived columns the suite uses.

    Returns the list of the check relation's column names. ``source_table`` defaults to
    ``staging.<table>``; ``batch_id`` None takes every row of it (core tables: the whole table, or the
    relation of the rows a load wrote, ``validate_core``).
    """
    staging = source_table or f"staging.{checked_identifier(suite.table)}"
    columns = column_types(con, staging if "." in staging else f"temp.{staging}")
    if not columns:
        raise RejectedBatchError(f"{staging} does not exist: stage the batch before validating it")
    wanted = {c for rule in suite.rules for c in rule.columns}
    wanted |= {c for rule in suite.rules for c in PLACEHOLDER.findall(rule.reason)}
    # only what the rules read (plus row identity): a narrow check relation is cheap to build and scan
    keep = (wanted | {"_batch_id", "_source_row"}) & set(columns)
    selects = [f"s.{quote_ident(c)}" for c in columns if c in keep]
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
    # a batch's rows are read once, into a materialized CTE: the main select, the rows whose text is read
    # lazily and the values the reference sets are asked about all read it (each filter on the text
    # _batch_id would scan the whole staged table again)
    rows = "_batch_rows" if batch_id is not None else staging
    with_rows = (f"with _batch_rows as materialized (select * from {staging} "  # noqa: S608
                 f"where _batch_id = {literal(batch_id)}) " if batch_id is not None else "")

    def json_text(c: str) -> str:
        key = keys[c[len(RAW_PREFIX):]]
        return f"nullif(trim(json_extract_string(s._raw, {literal(chr(36) + '.' + chr(34) + key.replace(chr(34), '') + chr(34))})), '')"

    def text(c: str) -> str:
        return f"nullif(trim(rw.{quote_ident(c[len(RAW_PREFIX):])}), '')" if raw_table else json_text(c)

    if raw_table and full:
        joins.append(f"left join (select * from {raw_table} where _batch_id = {literal(batch_id)}) rw "  # noqa: S608
                     "on rw._source_row = s._source_row")
    elif raw_table and lazy:
        # only the raw rows of the batch whose typed value is NULL somewhere (a join with all of them
        # would read every source value again)
        unparsed = " or ".join(f"{quote_ident(c[len(RAW_PREFIX):])} is null" for c in lazy)
        joins.append(
            f"left join (select * from {raw_table} where _batch_id = {literal(batch_id)} and _source_row in ("
            f"select _source_row from {rows} where {unparsed})) rw "
            "on rw._source_row = s._source_row")
    for c in lazy:
        selects.append(f"case when s.{quote_ident(c[len(RAW_PREFIX):])} is not null then {literal(PARSED)} "
                       f"else {text(c)} end as {quote_ident(c)}")
    selects += [f"{text(c)} as {quote_ident(c)}" for c in full]
    for i, c in enumerate(sorted(c for c in wanted if c.startswith(REF_PREFIX))):
        spec = suite.references.get(c)
        if spec is None:
            raise ValueError(f"{suite.path.name}: {c} is used but not declared in meta.references")
        column = quote_ident(spec["column"])
        among = f"select {column}::varchar from {rows}" if batch_id is not None else None  # noqa: S608
        ref_sql = _reference_sql(con, spec["reference"], among)
        if ref_sql is None:
            selects.append(f"null::varchar as {quote_ident(c)}")
            continue
        alias = f"r{i}"
        joins.append(f"left join ({ref_sql}) {alias} on {alias}.k = s.{column}::varchar")
        selects.append(f"{alias}.k as {quote_ident(c)}")
    if "_extracted_at" in wanted and "_extracted_at" not in columns:
        started = "null::timestamp"
        if table_exists(con, "audit.load_batches", views=True):
            started = "(select max(started_at) from audit.load_batches where batch_id = s._batch_id)"
        selects.append(f"coalesce({started}, current_timestamp::timestamp) as _extracted_at")
    con.execute(
        f"create or replace temp table {CHECK_TABLE} as {with_rows}select {', '.join(selects)} "  # noqa: S608
        f"from {rows} s {' '.join(joins)}")
    return list(column_types(con, f"temp.{CHECK_TABLE}"))


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
    if not table_exists(con, raw, views=True):
        return None
    cols = column_types(con, raw)
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
    from warehouse.ingest.profiles import batch_profile

    found, _ = batch_profile(con, batch_id, row[0]).match_columns(list(row[1] or []))
    keys.update({c: found[c] for c in wanted if c in found})
    return keys


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    names = [r[0] for r in con.execute(
        "select table_name from duckdb_tables() where database_name = 'temp' "
        "and (table_name in (?, ?) or table_name like '\\_dup\\_%' escape '\\')", [CHECK_TABLE, FLAGGED_TABLE]).fetchall()]
    for name in names:
        con.execute(f"drop table if exists temp.{checked_identifier(name)}")
