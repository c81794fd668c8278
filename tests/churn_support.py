"""Test support: a synthetic ``core`` star schema with planted churn, for the churn tests and benchmark.

``create_core_tables`` creates the warehouse with the production migrations, so tests can fill the core
tables by hand. ``synthesize_core`` fills them
with customers whose purchases follow a Poisson process that stops at a planted churn date; churn is
driven by a hidden dissatisfaction level that also produces complaints, slow resolutions, SLA breaches,
low satisfaction scores and late payments, and purchases thin out in the weeks before churning. It
returns the planted churn dates (the ground truth), which the pipeline itself never reads.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import polars as pl

REGIONS = ("north", "south", "east", "west", "london")
SEGMENTS = ("consumer", "small_business", "corporate", "vip")
ACQUISITION = ("web", "store", "referral", "campaign", "marketplace")
CONTACT_CHANNELS = ("phone", "web", "email", "wechat", "visit")


def create_core_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the (empty) warehouse with production's migrations (``sql/ddl``): one schema, the one the
    pipeline builds, so the churn tests read exactly the columns and constraints production has."""
    from warehouse.foundation.db import migrate

    migrate(con)


def _ts(base: dt.date, days: np.ndarray) -> np.ndarray:
    """Fractional days after ``base`` as numpy datetime64[us]."""
    start = np.datetime64(base, "us")
    return start + (days * 86_400_000_000).astype("int64").astype("timedelta64[us]")


def synthesize_core(
    con: duckdb.DuckDBPyConnection,
    *,
    n_customers: int = 2_000,
    start: dt.date = dt.date(2023, 1, 1),
    end: dt.date = dt.date(2025, 12, 31),
    n_products: int = 200,
    seed: int = 7,
    order_rate: float = 1 / 25,
    ticket_scale: float = 1.0,
    interaction_rate: float = 0.01,
) -> pl.DataFrame:
    """Fill ``core.*`` with a planted churn process; return the ground truth per customer.

    ``order_rate`` is the median orders per day of a customer, ``ticket_scale`` multiplies the ticket
    rate and ``interaction_rate`` is routine contacts per day. Ground truth columns: ``customer_id``,
    ``churn_date`` (NULL when the customer never churns in the span), ``dissatisfaction`` (the hidden
    driver, 0-1).
    """
    rng = np.random.default_rng(seed)
    create_core_tables(con)
    span = (end - start).days
    n = n_customers
    ids = np.array([f"C{i:06d}" for i in range(1, n + 1)])
    signup = rng.uniform(0, span * 0.75, n)
    rate = np.exp(rng.normal(np.log(order_rate), 0.6, n))  # orders per day
    unhappy = rng.beta(1.5, 4.0, n)
    hazard = 0.0006 * np.exp(4.0 * unhappy)  # churn per day
    churn_at = signup + rng.exponential(1 / hazard)
    churned = churn_at < span
    stop = np.minimum(churn_at, span)

    # customers
    regions = rng.choice(REGIONS, n)
    cust = pl.DataFrame({
        "customer_key": np.arange(1, n + 1, dtype=np.int64),
        "customer_id": ids,
        "source": "crm",
        "name": [f"Customer {i}" for i in range(1, n + 1)],
        "email": [f"c{i}@example.com" for i in range(1, n + 1)],
        "phone": "000",
        "city": regions,
        "region": regions,
        "segment": rng.choice(SEGMENTS, n, p=[0.6, 0.25, 0.1, 0.05]),
        "acquisition_channel": rng.choice(ACQUISITION, n),
        "status": "active",
        "sales_rep_id": np.array([f"E{k:04d}" for k in rng.integers(1, 21, n)]),
        "signup_date": _ts(start, np.floor(signup)).astype("datetime64[D]"),
        "valid_from": _ts(start, np.zeros(n)),
        "valid_to": np.full(n, np.datetime64("NaT"), dtype="datetime64[us]"),
        "is_current": True,
        "is_deleted": False,
    })

    # products
    cats = np.array([f"cat{k:02d}" for k in range(20)])
    prod_price = np.round(np.exp(rng.normal(2.5, 0.7, n_products)), 2)
    prod = pl.DataFrame({
        "product_key": np.arange(1, n_products + 1, dtype=np.int64),
        "product_id": np.array([f"P{k:05d}" for k in range(1, n_products + 1)]),
        "name": [f"Product {k}" for k in range(1, n_products + 1)],
        "category": cats[np.arange(n_products) % 20],
        "unit_price": prod_price,
        "is_merchandise": True,
        "valid_from": _ts(start, np.zeros(n_products)),
        "valid_to": np.full(n_products, np.datetime64("NaT"), dtype="datetime64[us]"),
        "is_current": True,
        "is_deleted": False,
    })

    # orders: Poisson process from signup to stop, thinned in the 60 days before churn
    active_days = np.maximum(stop - signup, 0)
    k = rng.poisson(rate * active_days)
    owner = np.repeat(np.arange(n), k)
    order_day = signup[owner] + rng.uniform(0, 1, owner.size) * active_days[owner]
    near_churn = churned[owner] & (order_day > churn_at[owner] - 60)
    keep = ~near_churn | (rng.uniform(0, 1, owner.size) < 0.35)
    owner, order_day = owner[keep], order_day[keep]
    n_orders = owner.size
    order_ids = np.array([f"O{i:08d}" for i in range(1, n_orders + 1)])
    n_lines = rng.integers(1, 4, n_orders)
    line_order = np.repeat(np.arange(n_orders), n_lines)
    line_no = np.concatenate([np.arange(1, m + 1) for m in n_lines]) if n_orders else np.array([], int)
    pidx = rng.integers(0, n_products, line_order.size)
    qty = rng.integers(1, 5, line_order.size)
    is_return = rng.uniform(0, 1, line_order.size) < (0.02 + 0.08 * unhappy[owner[line_order]])
    qty = np.where(is_return, -qty, qty)
    price = prod_price[pidx]
    amount = np.round(qty * price, 2)
    lines = pl.DataFrame({
        "sales_line_id": np.char.add(np.char.add(order_ids[line_order], "-"), line_no.astype(str)),
        "order_id": order_ids[line_order],
        "line_number": line_no.astype(np.int32),
        "order_ts": _ts(start, order_day[line_order]),
        "date_key": None,
        "customer_key": (owner[line_order] + 1).astype(np.int64),
        "customer_id": ids[owner[line_order]],
        "product_key": (pidx + 1).astype(np.int64),
        "product_id": prod["product_id"].to_numpy()[pidx],
        "channel_key": rng.integers(1, 6, line_order.size).astype(np.int64),
        "employee_key": None,
        "quantity": qty.astype(np.int32),
        "unit_price": price,
        "discount": 0.0,
        "net_amount": amount,
        "is_return": is_return,
        "is_cancelled": rng.uniform(0, 1, line_order.size) < 0.01,
        "is_merchandise": True,
        "source": "crm",
        "_batch_id": "synthetic",
    })

    # service tickets: more and worse for dissatisfied customers, more in the months before churn
    t_rate = ticket_scale * (0.002 + 0.02 * unhappy)
    t_k = rng.poisson(t_rate * np.maximum(span - signup, 0))
    t_owner = np.repeat(np.arange(n), t_k)
    t_day = signup[t_owner] + rng.uniform(0, 1, t_owner.size) * (span - signup[t_owner])
    pre = churned & (churn_at - 90 > signup)
    extra = rng.poisson(3 * unhappy * pre)
    e_owner = np.repeat(np.arange(n), extra)
    e_day = churn_at[e_owner] - rng.uniform(0, 90, e_owner.size)
    t_owner = np.concatenate([t_owner, e_owner])
    t_day = np.concatenate([t_day, e_day])
    u = unhappy[t_owner]
    is_complaint = rng.uniform(0, 1, t_owner.size) < (0.1 + 0.7 * u)
    first_resp_h = rng.exponential(4 + 30 * u)
    resolve_h = first_resp_h + rng.exponential(10 + 100 * u)
    sat = np.clip(np.round(5 - 4 * u + rng.normal(0, 0.7, t_owner.size)), 1, 5)
    answered = rng.uniform(0, 1, t_owner.size) < 0.6
    n_t = t_owner.size
    opened = _ts(start, t_day)
    tickets = pl.DataFrame({
        "ticket_id": np.array([f"T{i:08d}" for i in range(1, n_t + 1)]),
        "customer_key": (t_owner + 1).astype(np.int64),
        "customer_id": ids[t_owner],
        "ticket_type": np.where(is_complaint, "complaint", rng.choice(["inquiry", "request"], n_t)),
        "status": "resolved",
        "channel": rng.choice(CONTACT_CHANNELS, n_t),
        "opened_at": opened,
        "first_response_at": _ts(start, t_day + first_resp_h / 24),
        "resolved_at": _ts(start, t_day + resolve_h / 24),
        "first_response_hours": first_resp_h,
        "resolution_hours": resolve_h,
        "sla_breached": first_resp_h > 24,
        "satisfaction": pl.Series(np.where(answered, sat, np.nan)).fill_nan(None).cast(pl.Int16),
    })

    # interactions: routine contacts
    i_k = rng.poisson(interaction_rate * np.maximum(stop - signup, 0))
    i_owner = np.repeat(np.arange(n), i_k)
    i_day = signup[i_owner] + rng.uniform(0, 1, i_owner.size) * (stop[i_owner] - signup[i_owner])
    n_i = i_owner.size
    inter = pl.DataFrame({
        "interaction_id": np.array([f"I{i:08d}" for i in range(1, n_i + 1)]),
        "customer_key": (i_owner + 1).astype(np.int64),
        "customer_id": ids[i_owner],
        "interaction_type": rng.choice(["call", "email", "care_message"], n_i),
        "channel": rng.choice(CONTACT_CHANNELS, n_i),
        "occurred_at": _ts(start, i_day),
        "outcome": "ok",
    })

    # payments: one per order, due 30 days later; dissatisfied customers pay later
    due = np.floor(order_day) + 30
    late = rng.uniform(0, 1, n_orders) < (0.05 + 0.5 * unhappy[owner])
    days_late = np.where(late, rng.integers(1, 60, n_orders), -rng.integers(0, 10, n_orders))
    paid_day = due + days_late
    order_amount = lines.group_by("order_id").agg(pl.col("net_amount").sum()).sort("order_id")
    pays = pl.DataFrame({
        "payment_id": np.array([f"Y{i:08d}" for i in range(1, n_orders + 1)]),
        "order_id": order_ids,
        "customer_key": (owner + 1).astype(np.int64),
        "customer_id": ids[owner],
        "due_date": _ts(start, due).astype("datetime64[D]"),
        "paid_at": _ts(start, paid_day + 0.5),
        "days_late": np.maximum(days_late, 0).astype(np.int32),
    }).join(order_amount.rename({"net_amount": "amount"}), on="order_id", how="left")

    for table, frame in (("dim_customer", cust), ("dim_product", prod), ("fct_sales_line", lines),
                         ("fct_service_ticket", tickets), ("fct_interaction", inter),
                         ("fct_payment", pays)):
        con.register("_synth_frame", frame.to_arrow())
        con.execute(f"insert into core.{table} by name select * from _synth_frame")  # noqa: S608
        con.unregister("_synth_frame")

    churn_days = np.where(churned, churn_at, np.nan)
    return pl.DataFrame({
        "customer_id": ids,
        "churn_date": pl.Series(churn_days).fill_nan(None),
        "dissatisfaction": unhappy,
    }).with_columns(
        (pl.lit(start) + pl.duration(days=pl.col("churn_date").floor().cast(pl.Int64))).alias("churn_date")
    )
