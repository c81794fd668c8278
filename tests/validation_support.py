"""Build staging tables the way staging does: typed columns by TRY_CAST, ``_raw`` holds the source text."""

from __future__ import annotations

import json
from typing import Any

import duckdb

ORDER_LINE_TYPES = {
    "order_line_id": "bigint", "order_id": "bigint", "line_number": "integer", "product_code": "varchar",
    "quantity": "integer", "unit_price": "decimal(18,2)", "discount": "decimal(18,2)",
    "line_amount": "decimal(18,2)", "created_at": "timestamp", "updated_at": "timestamp", "is_deleted": "boolean",
}
TICKET_TYPES = {
    "ticket_id": "bigint", "ticket_number": "varchar", "customer_id": "bigint", "order_id": "bigint",
    "agent_id": "bigint", "ticket_type": "varchar", "channel": "varchar", "priority": "varchar",
    "subject": "varchar", "opened_at": "timestamp", "first_response_at": "timestamp",
    "resolved_at": "timestamp", "status": "varchar", "satisfaction": "smallint",
    "created_at": "timestamp", "updated_at": "timestamp", "is_deleted": "boolean",
}


def good_line(i: int, **over: Any) -> dict[str, Any]:
    row = {"order_line_id": str(i), "order_id": str(100 + i // 3), "line_number": str(i % 3 + 1),
           "product_code": "P001", "quantity": "2", "unit_price": "5.00", "discount": "0",
           "line_amount": "10.00", "created_at": "2024-03-01 10:00:00", "updated_at": "2024-03-01 10:00:00",
           "is_deleted": "false"}
    row.update(over)
    return row


def good_ticket(i: int, **over: Any) -> dict[str, Any]:
    row = {"ticket_id": str(i), "ticket_number": f"T{i:05d}", "customer_id": "1", "order_id": "",
           "agent_id": "7", "ticket_type": "complaint", "channel": "phone", "priority": "normal",
           "subject": "late delivery", "opened_at": "2024-03-01 09:00:00",
           "first_response_at": "2024-03-01 10:00:00", "resolved_at": "2024-03-02 10:00:00",
           "status": "resolved", "satisfaction": "4", "created_at": "2024-03-01 09:00:00",
           "updated_at": "2024-03-02 10:00:00", "is_deleted": "false"}
    row.update(over)
    return row


def stage(con: duckdb.DuckDBPyConnection, table: str, types: dict[str, str], rows: list[dict[str, Any]],
          batch_id: str = "b1", extracted_at: str = "2024-06-01 00:00:00", source: str = "crm") -> None:
    """Append ``rows`` (text values as the source gave them) to ``staging.<table>`` as batch ``batch_id``."""
    for schema in ("staging", "quarantine", "audit"):
        con.execute(f"create schema if not exists {schema}")
    con.execute("create or replace temp table _rows (_source_row bigint, _raw varchar)")
    con.executemany("insert into _rows values (?, ?)",
                    [(i + 1, json.dumps(r, ensure_ascii=False)) for i, r in enumerate(rows)])
    typed = ", ".join(
        f"try_cast(nullif(trim(json_extract_string(_raw, '$.{c}')), '') as {t}) as {c}"
        if t != "varchar" else f"nullif(trim(json_extract_string(_raw, '$.{c}')), '') as {c}"
        for c, t in types.items())
    select = (f"select '{batch_id}' as _batch_id, _source_row, '{source}' as _source, _raw, "
              f"timestamp '{extracted_at}' as _extracted_at, {typed} from _rows")
    exists = con.execute("select count(*) from duckdb_tables() where schema_name = 'staging' and table_name = ?",
                         [table]).fetchone()[0]
    if exists:
        con.execute(f"insert into staging.{table} {select}")
    else:
        con.execute(f"create table staging.{table} as {select}")


def write_raw_crm_batch(con: duckdb.DuckDBPyConnection, csv_path: str, entity: str, batch_id: str,
                        extracted_at: str = "2024-06-01 00:00:00") -> int:
    """Put a CSV of CRM source rows (text) into ``raw.crm__<entity>`` as an extracted, running batch."""
    raw = f"raw.crm__{entity}"
    con.execute("create or replace temp table _csv as select * from read_csv(?, all_varchar = true, header = true)",
                [csv_path])
    columns = [r[0] for r in con.execute("describe _csv").fetchall()]
    con.execute(f"create table if not exists {raw} (_batch_id varchar, _source varchar, _source_row bigint, "
                f"_extracted_at timestamp, {', '.join(f'{c} varchar' for c in columns)})")
    n = con.execute(f"insert into {raw} select ?, 'crm', row_number() over (), ?::timestamp, * from _csv",
                    [batch_id, extracted_at]).fetchone()[0]
    con.execute("""insert into audit.load_batches (batch_id, source, entity, source_kind, started_at, rows_read,
                   status, step, staging_table) values (?, 'crm', ?, 'database', ?::timestamp, ?, 'running',
                   'extracted', ?)""", [batch_id, entity, extracted_at, n, f"stg_crm__{entity}"])
    return int(n)


def reference_data(con: duckdb.DuckDBPyConnection) -> None:
    """Customers 1-3, employee 7 and products P1-P3 already known to the warehouse (staging)."""
    con.execute("create table staging.stg_crm__customers as select range::bigint as customer_id, "
                "'C' || range as customer_code, '' as _batch_id, range as _source_row from range(1, 4)")
    con.execute("create table staging.stg_crm__employees as select 7::bigint as employee_id, 'E7' as employee_code, "
                "'' as _batch_id, 1 as _source_row")
    con.execute("create table staging.stg_crm__products as select 'P' || range as product_code, "
                "'' as _batch_id, range as _source_row from range(1, 4)")
