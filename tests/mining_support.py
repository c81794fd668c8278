"""A small star schema (core.dim_product, core.dim_customer, core.fct_sales_line with the documented
columns of docs/ARCHITECTURE.md) for the mining tests, with planted bundles and every kind of line the
basket builder must leave out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

CORE_DDL = """
create schema if not exists core;
create schema if not exists analytics;
create schema if not exists marts;
create table core.dim_product (
    product_key bigint, product_id varchar, name varchar, category varchar, unit_price decimal(18,2),
    is_merchandise boolean, valid_from timestamp, valid_to timestamp, is_current boolean, is_deleted boolean);
create table core.dim_customer (
    customer_key bigint, customer_id varchar, source varchar, name varchar, email varchar, phone varchar,
    city varchar, region varchar, segment varchar, acquisition_channel varchar, status varchar,
    sales_rep_id varchar, signup_date date, valid_from timestamp, valid_to timestamp, is_current boolean,
    is_deleted boolean);
create table core.fct_sales_line (
    sales_line_id varchar, order_id varchar, line_number integer, order_ts timestamp, date_key integer,
    customer_key bigint, customer_id varchar, product_key bigint, product_id varchar, channel_key bigint,
    employee_key bigint, quantity integer, unit_price decimal(18,4), discount decimal(18,2),
    net_amount decimal(18,2), is_return boolean, is_cancelled boolean, is_merchandise boolean,
    source varchar, _batch_id varchar);
"""

AS_OF = dt.date(2026, 6, 30)
BUNDLES = (("P010", "P011"), ("P020", "P021", "P022"))
NAMES = {"P010": "JUMBO BAG RED", "P011": "LUNCH BAG RED", "P020": "TEA CUP", "P021": "SAUCER", "P022": "TEAPOT"}


def build_star(path: Path, n_orders: int = 1200, seed: int = 7) -> Path:
    """Write the star schema into a new DuckDB file and return its path."""
    rng = np.random.default_rng(seed)
    con = duckdb.connect(str(path))
    con.execute(CORE_DDL)
    products = [f"P{i:03d}" for i in range(1, 41)]
    prod_rows = [(k, pid, NAMES.get(pid, f"PRODUCT {pid}"), "cat" + str(k % 4), 1.0, True,
                  dt.datetime(2020, 1, 1), None, True, False) for k, pid in enumerate(products, start=1)]
    prod_rows.append((100, "POST", "POSTAGE", "fees", 10.0, False, dt.datetime(2020, 1, 1), None, True, False))
    con.executemany("insert into core.dim_product values (?,?,?,?,?,?,?,?,?,?)", prod_rows)
    key_of = {r[1]: r[0] for r in prod_rows}
    segments = ("consumer", "corporate")
    regions = ("north", "south")
    cust_rows = [(0, None, None, "unknown", None, None, None, None, None, None, None, None, None,
                  dt.datetime(2000, 1, 1), None, True, False)]
    for c in range(1, 121):
        cust_rows.append((c, f"C{c:05d}", "crm", f"Person {c}", f"p{c}@x.org", "555", "town",
                          regions[c % 2], segments[c % 2], "web", "active", None, dt.date(2020, 1, 1),
                          dt.datetime(2020, 1, 1), None, True, False))
    con.executemany("insert into core.dim_customer values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", cust_rows)
    lines = []
    weights = 1 / np.arange(1, len(products) + 1)
    weights /= weights.sum()
    start = dt.datetime.combine(AS_OF, dt.time()) - dt.timedelta(days=179)
    for o in range(n_orders):
        cust = int(rng.integers(1, 121)) if rng.random() > 0.1 else 0
        ts = start + dt.timedelta(minutes=int(rng.integers(0, 180 * 24 * 60)))
        items = set(rng.choice(products, size=int(rng.integers(1, 5)), p=weights).tolist())
        if rng.random() < 0.25:
            items |= set(BUNDLES[int(rng.integers(0, len(BUNDLES)))])
        order_id = f"O{o:06d}"
        cancelled = rng.random() < 0.03
        for n, pid in enumerate(sorted(items), start=1):
            lines.append((order_id, n, ts, cust, pid, 1, False, cancelled, True))
        if rng.random() < 0.3:
            lines.append((order_id, 99, ts, cust, "POST", 1, False, cancelled, False))
    frame = pd.DataFrame(lines, columns=["order_id", "line_number", "order_ts", "customer_key", "product_id",
                                         "quantity", "is_return", "is_cancelled", "is_merchandise"])
    con.register("lines", frame)
    con.execute("""
        insert into core.fct_sales_line
        select order_id || '-' || line_number, order_id, line_number, order_ts,
               cast(strftime(order_ts, '%Y%m%d') as integer), l.customer_key, c.customer_id,
               ?::json ->> product_id, product_id, 1, 1, quantity, 1.0, 0, quantity,
               is_return, is_cancelled, is_merchandise, 'crm', 'b1'
        from lines l left join core.dim_customer c using (customer_key)
    """, [__import__("json").dumps(key_of)])
    con.close()
    return path


def add_line(con: duckdb.DuckDBPyConnection, order_id: str, customer: int, product_id: str, *,
             ts: dt.datetime, quantity: int = 1, is_return: bool = False, is_cancelled: bool = False) -> None:
    customer_id = None if customer == 0 else f"C{customer:05d}"
    product_key = con.execute("select product_key from core.dim_product where product_id = ?",
                              [product_id]).fetchall()[0][0]
    con.execute("insert into core.fct_sales_line values (?,?,1,?,0,?,?,?,?,1,1,?,1,0,1,?,?,true,'crm','b2')",
                [f"{order_id}-{product_id}", order_id, ts, customer, customer_id, product_key, product_id,
                 quantity, is_return, is_cancelled])
