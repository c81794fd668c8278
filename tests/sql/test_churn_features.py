"""Churn features, labels and cohorts on tiny DuckDB files, checked against hand-computed numbers."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb
import polars as pl
import pytest
from churn_support import create_core_tables, synthesize_core

from warehouse.analytics.churn_features import FEATURE_DESCRIPTIONS, churn_labels, compute_features
from warehouse.foundation.db import read_sql

AS_OF = dt.date(2025, 4, 1)


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def add_line(con, order_id, when, customer, product_key, qty, amount, *, is_return=False, cancelled=False):
    con.execute(
        "insert into core.fct_sales_line (sales_line_id, order_id, line_number, order_ts, customer_key, "
        "customer_id, product_key, product_id, quantity, net_amount, is_return, is_cancelled, source) "
        "values (?, ?, 1, ?, 1, ?, ?, ?, ?, ?, ?, ?, 'test')",
        [f"{order_id}-1", order_id, ts(when), customer, product_key, f"P{product_key}", qty, amount,
         is_return, cancelled])


def add_ticket(con, tid, customer, ttype, channel, opened, first_response, resolved, satisfaction):
    con.execute(
        "insert into core.fct_service_ticket (ticket_id, customer_key, customer_id, ticket_type, channel, "
        "opened_at, first_response_at, resolved_at, satisfaction) values (?, 1, ?, ?, ?, ?, ?, ?, ?)",
        [tid, customer, ttype, channel, ts(opened), first_response and ts(first_response),
         resolved and ts(resolved), satisfaction])


def add_interaction(con, iid, customer, channel, when):
    con.execute("insert into core.fct_interaction (interaction_id, customer_key, customer_id, channel, occurred_at) "
                "values (?, 1, ?, ?, ?)", [iid, customer, channel, ts(when)])


def add_payment(con, pid, customer, due, paid):
    con.execute("insert into core.fct_payment (payment_id, customer_key, customer_id, due_date, paid_at, amount) "
                "values (?, 1, ?, ?, ?, 10)", [pid, customer, dt.date.fromisoformat(due), paid and ts(paid)])


@pytest.fixture
def tiny(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """C1 with sales, tickets, contacts and payments; online_retail:123 with one sale only."""
    con = duckdb.connect(str(tmp_path / "tiny.duckdb"))
    create_core_tables(con)
    con.execute("insert into core.dim_product (product_key, product_id, category, valid_from, is_current) values "
                "(1, 'P1', 'X', '2020-01-01', true), (2, 'P2', 'Y', '2020-01-01', true), "
                "(3, 'P3', 'Z', '2020-01-01', true)")
    add_line(con, "O6", "2024-10-15 10:00:00", "C1", 2, 1, 5.00)
    add_line(con, "O1", "2025-01-01 10:00:00", "C1", 1, 2, 20.00)
    add_line(con, "O2", "2025-02-01 10:00:00", "C1", 2, 1, 10.00)
    add_line(con, "R1", "2025-02-15 10:00:00", "C1", 1, -1, -10.00, is_return=True)
    add_line(con, "O3", "2025-03-02 10:00:00", "C1", 1, 1, 10.00)
    add_line(con, "O4", "2025-03-20 10:00:00", "C1", 3, 5, 50.00, cancelled=True)
    add_line(con, "O5", "2025-04-01 09:00:00", "C1", 3, 1, 30.00)  # on the as-of day: not before it
    add_line(con, "G1", "2025-03-01 10:00:00", None, 1, 1, 10.00)  # guest sale
    add_line(con, "X1", "2025-03-15 12:00:00", "online_retail:123", 1, 3, 15.00)
    add_ticket(con, "T1", "C1", "complaint", "phone", "2025-03-10 08:00:00", "2025-03-11 12:00:00",
               "2025-03-12 08:00:00", 2)
    add_ticket(con, "T2", "C1", "inquiry", "web", "2025-03-30 08:00:00", None, None, None)
    add_ticket(con, "T3", "C1", "complaint", "phone", "2024-12-01 08:00:00", "2024-12-01 09:00:00",
               "2024-12-01 18:00:00", 4)
    add_ticket(con, "T4", "C1", "request", "email", "2025-03-31 10:00:00", "2025-03-31 11:00:00",
               "2025-04-02 10:00:00", 5)
    add_interaction(con, "I1", "C1", "email", "2025-03-31 15:00:00")
    add_interaction(con, "I2", "C1", "phone", "2025-04-05 15:00:00")
    add_payment(con, "Y1", "C1", "2025-01-31", "2025-02-05 10:00:00")
    add_payment(con, "Y2", "C1", "2025-03-03", "2025-03-01 10:00:00")
    add_payment(con, "Y3", "C1", "2025-03-25", None)
    add_payment(con, "Y4", "C1", "2025-04-10", None)
    yield con
    con.close()


def test_features_match_hand_computed_values(tiny: duckdb.DuckDBPyConnection) -> None:
    rows = {r["customer_id"]: r for r in compute_features(tiny, [AS_OF]).to_dicts()}
    assert set(rows) == {"C1", "online_retail:123"}  # guests excluded
    c1 = rows["C1"]
    # purchase days 2024-10-15, 2025-01-01, 2025-02-01, 2025-03-02 (return day and cancelled order are not)
    assert c1["recency_days"] == 30
    assert c1["tenure_days"] == 168
    assert c1["purchase_days_total"] == 4 and c1["orders_total"] == 4
    assert (c1["orders_30d"], c1["orders_90d"], c1["orders_180d"], c1["orders_365d"]) == (1, 3, 4, 4)
    # money: 5 + 20 + 10 - 10 (return) + 10; cancelled 50 and the as-of day's 30 left out
    assert (c1["monetary_30d"], c1["monetary_90d"], c1["monetary_180d"], c1["monetary_365d"]) == (10, 30, 35, 35)
    assert c1["monetary_total"] == 35
    assert (c1["orders_prev_90d"], c1["monetary_prev_90d"]) == (1, 5)
    # gaps 78, 31, 29 days
    assert c1["mean_gap_days"] == pytest.approx(46.0)
    assert c1["std_gap_days"] == pytest.approx(math.sqrt((32**2 + 15**2 + 17**2) / 3))
    assert c1["recency_gap_ratio"] == pytest.approx(30 / 46)
    assert c1["trend_orders_90d"] == 2
    assert c1["trend_monetary_90d"] == pytest.approx((30 - 5) / (30 + 5))
    assert (c1["distinct_products"], c1["distinct_categories"]) == (2, 2)
    assert c1["return_rate_365d"] == pytest.approx(1 / 5)
    # service: T1, T2, T4 in 90 days; T2 and T4 unresolved at the as-of date
    assert (c1["tickets_90d"], c1["complaints_90d"], c1["open_tickets"]) == (3, 1, 2)
    assert c1["mean_resolution_hours"] == pytest.approx((48 + 10) / 2)
    assert c1["worst_resolution_hours"] == pytest.approx(48)
    assert c1["sla_breaches_90d"] == 2  # T1 answered after 28 h, T2 unanswered for 40 h at the as-of date
    assert c1["last_satisfaction"] == 2  # T4's 5 arrives after the as-of date
    assert c1["days_since_last_contact"] == 1
    assert c1["contacts_365d"] == 5 and c1["contact_channels_365d"] == 3
    assert c1["digital_contact_share_365d"] == pytest.approx(3 / 5)
    # payments due before the as-of date: 5 days late, on time, 7 days overdue and unpaid
    assert c1["payments_due_365d"] == 3
    assert c1["overdue_share_365d"] == pytest.approx(2 / 3)
    assert c1["mean_days_late_365d"] == pytest.approx(4.0)
    assert c1["has_service_history"] is True


def test_sales_only_history_gets_purchase_features(tiny: duckdb.DuckDBPyConnection) -> None:
    row = compute_features(tiny, [AS_OF]).filter(pl.col("customer_id") == "online_retail:123").to_dicts()[0]
    assert (row["recency_days"], row["tenure_days"], row["orders_total"], row["monetary_total"]) == (17, 17, 1, 15)
    assert row["mean_gap_days"] is None and row["recency_gap_ratio"] is None
    assert (row["tickets_90d"], row["complaints_90d"], row["open_tickets"], row["sla_breaches_90d"]) == (0, 0, 0, 0)
    assert row["last_satisfaction"] is None and row["days_since_last_contact"] is None
    assert row["has_service_history"] is False and row["payments_due_365d"] == 0


def test_every_feature_is_described(tiny: duckdb.DuckDBPyConnection) -> None:
    frame = compute_features(tiny, [AS_OF])
    assert frame.columns == list(FEATURE_DESCRIPTIONS)
    assert all(len(text) > 10 for text in FEATURE_DESCRIPTIONS.values())


def test_label_hand_computed(tiny: duckdb.DuckDBPyConnection) -> None:
    dates = [dt.date(2025, 1, 1), dt.date(2025, 1, 2), dt.date(2025, 3, 3)]
    labels = churn_labels(tiny, dates, horizon_days=30, lookback_days=365, data_end=dt.date(2025, 4, 2))
    got = {(r["customer_id"], r["as_of"]): r for r in labels.to_dicts()}
    # 2025-01-01: bought 2025-01-01 (inside [as_of, as_of + 30)) -> retained
    assert got[("C1", dt.date(2025, 1, 1))]["churned"] is False
    # 2025-01-02: next purchase 2025-02-01 is 30 days later, outside [01-02, 02-01) -> churned
    assert got[("C1", dt.date(2025, 1, 2))]["churned"] is True
    # 2025-03-03: horizon ends 2025-04-02 <= data end: observed; 2025-04-01 purchase -> retained
    assert got[("C1", dt.date(2025, 3, 3))]["churned"] is False
    # online_retail:123 first bought on 03-15: no row before that
    assert ("online_retail:123", dt.date(2025, 3, 3)) not in got
    not_yet = churn_labels(tiny, [dt.date(2025, 3, 10)], horizon_days=30, lookback_days=365,
                           data_end=dt.date(2025, 4, 2))
    assert not_yet["churned"].to_list() == [None] and not_yet["label_observed"].to_list() == [False]
    lapsed = churn_labels(tiny, [dt.date(2025, 1, 1)], horizon_days=30, lookback_days=30,
                          data_end=dt.date(2025, 4, 2))
    # last purchase before 2025-01-01 is 2024-10-15, outside a 30-day look-back: not in the label population
    assert lapsed["active_in_lookback"].to_list() == [False] and lapsed["churned"].to_list() == [None]


def _state_at(src: duckdb.DuckDBPyConnection, cutoff: dt.datetime, path: Path) -> duckdb.DuckDBPyConnection:
    """A copy of the core tables as the CRM knew them at ``cutoff`` (later events and later outcomes gone)."""
    con = duckdb.connect(str(path))
    create_core_tables(con)
    c = f"timestamp '{cutoff.isoformat(sep=' ')}'"
    statements = {
        "dim_customer": "select * from core.dim_customer",
        "dim_product": "select * from core.dim_product",
        "fct_sales_line": f"select * from core.fct_sales_line where order_ts < {c}",
        "fct_interaction": f"select * from core.fct_interaction where occurred_at < {c}",
        "fct_service_ticket": (
            "select * replace ("
            f"case when first_response_at < {c} then first_response_at end as first_response_at, "
            f"case when resolved_at < {c} then resolved_at end as resolved_at, "
            f"case when resolved_at < {c} then satisfaction end as satisfaction) "
            f"from core.fct_service_ticket where opened_at < {c}"),
        "fct_payment": (
            f"select * replace (case when paid_at < {c} then paid_at end as paid_at) "
            f"from core.fct_payment where due_date < {c}::date"),
    }
    for table, select in statements.items():
        frame = src.sql(select).pl()
        con.register("_f", frame.to_arrow())
        con.execute(f"insert into core.{table} by name select * from _f")
        con.unregister("_f")
    return con


def test_no_leakage_later_data_changes_nothing(tmp_path: Path) -> None:
    full = duckdb.connect(str(tmp_path / "full.duckdb"))
    synthesize_core(full, n_customers=300, seed=11)
    dates = [dt.date(2024, 6, 1), dt.date(2025, 1, 15)]
    for as_of in dates:
        past = _state_at(full, dt.datetime.combine(as_of, dt.time()), tmp_path / f"past_{as_of}.duckdb")
        expected = compute_features(past, [as_of])
        got = compute_features(full, dates).filter(pl.col("as_of") == as_of)
        assert expected.height > 50
        assert got.equals(expected, null_equal=True), f"features at {as_of} depend on later data"
        past.close()


def test_cohort_retention_hand_computed(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "cohort.duckdb"))
    create_core_tables(con)
    add_line(con, "A1", "2025-01-10 10:00:00", "A", 1, 1, 100.00)
    add_line(con, "A2", "2025-02-05 10:00:00", "A", 1, 1, 40.00)
    add_line(con, "B1", "2025-01-20 10:00:00", "B", 1, 1, 50.00)
    add_line(con, "B2", "2025-03-07 10:00:00", "B", 1, -1, -50.00, is_return=True)  # a return is not activity
    add_line(con, "C1", "2025-02-03 10:00:00", "C", 1, 1, 30.00)
    add_line(con, "C2", "2025-03-01 10:00:00", "C", 1, 1, 15.00)
    add_line(con, "C3", "2025-04-02 10:00:00", "C", 1, 1, 99.00)  # April is not complete at the as-of date
    rows = con.sql(read_sql("marts/cohort_retention.sql"), params={"as_of": dt.date(2025, 4, 15)}).fetchall()
    # cohort, months since, size, active, retention, revenue, revenue retained
    assert rows == [
        (dt.date(2025, 1, 1), 0, 2, 2, 1.0, 150.0, 1.0),
        (dt.date(2025, 1, 1), 1, 2, 1, 0.5, 40.0, round(40 / 150, 4)),
        (dt.date(2025, 1, 1), 2, 2, 0, 0.0, -50.0, round(-50 / 150, 4)),
        (dt.date(2025, 2, 1), 0, 1, 1, 1.0, 30.0, 1.0),
        (dt.date(2025, 2, 1), 1, 1, 1, 1.0, 15.0, 0.5),
    ]
