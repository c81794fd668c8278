"""The churn label on tiny hand-made histories: the horizon from the purchase cycle, who is active, who churned."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from churn_support import create_core_tables

from warehouse.analytics.churn import churn_horizon
from warehouse.analytics.churn_features import churn_labels, label_horizon, purchase_cycle
from warehouse.foundation.settings import load_settings

D = dt.date(2025, 6, 1)


def _buy(con: duckdb.DuckDBPyConnection, customer: str, day: dt.date, *, is_return: bool = False,
         cancelled: bool = False) -> None:
    n = con.execute("select count(*) from core.fct_sales_line").fetchall()[0][0]
    con.execute("insert into core.fct_sales_line (sales_line_id, order_id, line_number, order_ts, customer_key, "
                "customer_id, product_key, product_id, quantity, net_amount, is_return, is_cancelled, source) "
                "values (?, ?, 1, ?, 1, ?, 1, 'P1', ?, 10, ?, ?, 'test')",
                [f"L{n}", f"O{n}", dt.datetime.combine(day, dt.time(12)), customer, -1 if is_return else 1,
                 is_return, cancelled])


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "label.duckdb"))
    create_core_tables(con)
    return con


def test_horizon_is_the_rounded_gap_quantile_within_bounds() -> None:
    kw = {"round_days": 30, "min_days": 30, "max_days": 180}
    assert label_horizon(125.0, **kw) == 150  # rounded up to whole 30-day steps
    assert label_horizon(120.0, **kw) == 120
    assert label_horizon(3.0, **kw) == 30 and label_horizon(400.0, **kw) == 180
    assert label_horizon(None, **kw) == 180  # nobody bought twice: the longest horizon
    assert label_horizon(44.0, round_days=0, min_days=1, max_days=365) == 44


def test_purchase_cycle_reads_only_purchases_before_the_date(con: duckdb.DuckDBPyConnection) -> None:
    start = dt.date(2025, 1, 1)
    for gap_days in (0, 10, 30, 60, 140):  # C1: gaps 10, 20, 30, 80
        _buy(con, "C1", start + dt.timedelta(days=gap_days))
    _buy(con, "C1", start + dt.timedelta(days=5), is_return=True)  # not a purchase
    _buy(con, "C1", start + dt.timedelta(days=7), cancelled=True)  # not a purchase
    _buy(con, "C2", start)
    _buy(con, "C2", start + dt.timedelta(days=40))  # gap 40
    _buy(con, "C2", D + dt.timedelta(days=1))  # after the date: invisible
    gap, n = purchase_cycle(con, D, 0.5)
    assert n == 5 and gap == pytest.approx(30.0)  # median of 10, 20, 30, 40, 80
    gap90, _ = purchase_cycle(con, D, 0.9)
    assert gap90 == pytest.approx(64.0)  # linear between 40 and 80
    settings = load_settings(environ={}, data_dir="/tmp", churn={"horizon_gap_quantile": 0.9})
    assert churn_horizon(con, D, settings)[0] == 90
    fixed = load_settings(environ={}, data_dir="/tmp", churn={"horizon_days": 45})
    assert churn_horizon(con, D, fixed) == (45, "settings.churn.horizon_days")


def test_label_active_churned_and_unobserved(con: duckdb.DuckDBPyConnection) -> None:
    h = 60
    _buy(con, "KEEPS", D - dt.timedelta(days=10))
    _buy(con, "KEEPS", D + dt.timedelta(days=59))  # next purchase inside the horizon: retained
    _buy(con, "LEAVES", D - dt.timedelta(days=10))
    _buy(con, "LEAVES", D + dt.timedelta(days=60))  # first purchase after the horizon: churned
    _buy(con, "SILENT", D - dt.timedelta(days=60))  # bought exactly h days before: still active, churned
    _buy(con, "LAPSED", D - dt.timedelta(days=61))  # silent longer than the horizon: lapsed, no label
    _buy(con, "LAPSED", D + dt.timedelta(days=5))
    labels = churn_labels(con, [D, D + dt.timedelta(days=30)], horizon_days=h, lookback_days=h,
                          data_end=D + dt.timedelta(days=h))
    now = {r["customer_id"]: r for r in labels.filter(labels["as_of"] == D).iter_rows(named=True)}
    assert now["KEEPS"]["churned"] is False and now["KEEPS"]["active_in_lookback"]
    assert now["LEAVES"]["churned"] is True
    assert now["SILENT"]["churned"] is True and now["SILENT"]["active_in_lookback"]
    assert now["LAPSED"]["active_in_lookback"] is False and now["LAPSED"]["churned"] is None
    later = labels.filter(labels["as_of"] == D + dt.timedelta(days=30))
    assert later["churned"].null_count() == later.height  # the horizon is not over yet: unknown
