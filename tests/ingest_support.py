"""A small, deterministic CRM source for the ingestion tests (written with the source contract's
SQLAlchemy metadata, so it works on SQLite and PostgreSQL alike)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from warehouse.ingest.source_contract import metadata

T0 = datetime(2024, 1, 1, 9, 0, 0)
SEGMENTS = ("consumer", "small_business", "corporate", "vip")
CHANNELS = ("web", "store", "phone", "marketplace", "wechat")


def _audit(ts: datetime) -> dict[str, Any]:
    return {"created_at": ts, "updated_at": ts, "is_deleted": False}


def build_source(url: str, *, customers: int = 20, orders: int = 40, seed: int = 7) -> dict[str, int]:
    """Create the source tables and fill them; every row's timestamps lie in January-March 2024."""
    rng = random.Random(seed)
    engine = sa.create_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    t = metadata.tables
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in t}
    for i in range(1, 5):
        rows["employees"].append({"employee_id": i, "employee_code": f"E{i:04d}", "name": f"Employee {i}",
                                  "role": "sales_rep" if i <= 2 else "service_agent", "team": "north",
                                  "region": "North", "hire_date": date(2020, 1, i), **_audit(T0)})
    for i in range(1, customers + 1):
        rows["customers"].append({
            "customer_id": i, "customer_code": f"C{i:06d}", "name": f"Customer {i}", "email": f"c{i}@example.com",
            "phone": "555-0100", "city": rng.choice(("Leeds", "York", "Hull")), "region": "North",
            "segment": rng.choice(SEGMENTS), "acquisition_channel": "web", "status": "active",
            "sales_rep_id": 1 + i % 2, "signup_date": date(2023, 6, 1), **_audit(T0)})
    for i in range(1, 11):
        rows["products"].append({
            "product_id": i, "product_code": f"SKU{i:03d}" + (" " if i == 3 else ""), "name": f"Product {i}",
            "name_en": None, "category": f"cat{i % 3}", "unit_price": Decimal(f"{i * 2}.50"),
            "is_merchandise": i != 10, **_audit(T0)})
    line_id = 0
    for o in range(1, orders + 1):
        ts = T0 + timedelta(days=o, hours=o % 7)
        customer = None if o % 13 == 0 else 1 + (o * 7) % customers
        status = "cancelled" if o % 11 == 0 else "completed"
        total = Decimal("0")
        for ln in range(1, 1 + 1 + o % 3):
            line_id += 1
            product = 1 + (o + ln) % 10
            qty = -1 if (o % 17 == 0 and ln == 1) else 1 + (o + ln) % 4
            price = Decimal(f"{product * 2}.50")
            amount = qty * price
            total += amount
            code = f"SKU{product:03d}"
            code = code.lower() + "  " if line_id % 9 == 0 else code
            rows["order_lines"].append({
                "order_line_id": line_id, "order_id": o, "line_number": ln, "product_code": code,
                "quantity": qty, "unit_price": price, "discount": Decimal("0"), "line_amount": amount,
                **_audit(ts)})
        rows["orders"].append({
            "order_id": o, "order_number": f"SO{o:06d}", "customer_id": customer, "order_ts": ts,
            "channel": CHANNELS[o % len(CHANNELS)], "sales_rep_id": 1 + o % 2, "status": status,
            "order_total": total, "currency": "GBP", **_audit(ts)})
        rows["payments"].append({
            "payment_id": o, "order_id": o, "customer_id": customer, "due_date": (ts + timedelta(days=30)).date(),
            "paid_at": None if o % 5 == 0 else ts + timedelta(days=20 + o % 20), "amount": total,
            "method": "card", **_audit(ts)})
    for k in range(1, 16):
        opened = T0 + timedelta(days=k * 3)
        rows["service_tickets"].append({
            "ticket_id": k, "ticket_number": f"T{k:05d}", "customer_id": 1 + k % customers, "order_id": k,
            "agent_id": 3 + k % 2, "ticket_type": ("complaint", "inquiry", "request")[k % 3],
            "channel": ("phone", "web", "email")[k % 3], "priority": "normal", "subject": f"Ticket {k}",
            "opened_at": opened, "first_response_at": None if k % 4 == 0 else opened + timedelta(hours=6 * k),
            "resolved_at": None if k % 4 == 0 else opened + timedelta(hours=6 * k + 10),
            "status": "open" if k % 4 == 0 else "resolved", "satisfaction": None if k % 3 == 0 else 1 + k % 5,
            **_audit(opened)})
        rows["interactions"].append({
            "interaction_id": k, "customer_id": 1 + (k * 3) % customers, "employee_id": 1 + k % 4,
            "interaction_type": "call", "channel": "phone", "occurred_at": opened, "outcome": "ok",
            "notes": None, **_audit(opened)})
    with engine.begin() as conn:
        for name in ("employees", "customers", "products", "orders", "order_lines", "payments",
                     "service_tickets", "interactions"):
            conn.execute(t[name].insert(), rows[name])
    engine.dispose()
    return {name: len(r) for name, r in rows.items()}


def update_rows(url: str, table: str, where: str, values: dict[str, Any], ts: datetime) -> int:
    """Change source rows the way the CRM would: new values and a new ``updated_at``."""
    engine = sa.create_engine(url)
    tbl = metadata.tables[table]
    with engine.begin() as conn:
        result = conn.execute(tbl.update().where(sa.text(where)).values(**values, updated_at=ts))
    engine.dispose()
    return result.rowcount


def table_checksums(con) -> dict[str, tuple]:
    """(row count, order-independent checksum of every column) of every core table."""
    tables = [r[0] for r in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'core' order by 1").fetchall()]
    return {t: con.execute(
        f"select count(*), sum(hash(x)) from core.{t} x").fetchone()
        for t in tables}


def load_template(directory: Path, end: str, build: Any = None) -> dict[str, int]:
    """Build the test source in ``directory`` (a data dir; ``build(url)``, default :func:`build_source`) and
    load it up to ``end``, isolated from the caller's CRMWH_ environment; returns the source's row counts.
    For module-scoped templates."""
    import os

    import pytest

    from warehouse.foundation.settings import load_settings
    from warehouse.ops import pipeline

    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("CRMWH_") and k != "CRMWH_TEST_PG_URL"]:
            mp.delenv(key)
        mp.setenv("CRMWH_DATA_DIR", str(directory))
        mp.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
        settings = load_settings()
        settings.ensure_dirs()
        counts = (build or build_source)(settings.source_url)
        pipeline.run(settings, pipeline.Interval.parse(None, end))
    return counts


def warehouse_rows(settings, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of one query on the working warehouse, opened read-only (closed again at once)."""
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
