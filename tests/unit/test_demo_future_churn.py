"""``crmwh demo advance`` replays the churn the generator planted past the end date, then draws new churn."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from warehouse.demo.advance import advance
from warehouse.demo.generator import GenerateOptions, generate


def _orders(url: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    try:
        return pd.read_sql(sa.text("select o.order_ts, c.customer_code from orders o "
                                   "join customers c on c.customer_id = o.customer_id"), engine,
                           parse_dates=["order_ts"])
    finally:
        engine.dispose()


def test_advance_follows_the_planted_future(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    truth_path = tmp_path / "ground_truth.json"
    generate(url, truth_path, GenerateOptions(scale="small", seed=8))
    planted = json.loads(truth_path.read_text(encoding="utf-8"))["churn"]
    end = dt.date(2025, 12, 31)
    window = {c: dt.date.fromisoformat(d) for c, d in planted["churn_date_by_customer"].items()
              if d and end < dt.date.fromisoformat(d) <= end + dt.timedelta(days=60)}
    assert len(window) > 5
    advance(url, truth_path, 60)
    after = json.loads(truth_path.read_text(encoding="utf-8"))["churn"]
    # inside the planted horizon nothing is redrawn: the plan is the truth
    assert after["churn_date_by_customer"] == planted["churn_date_by_customer"]
    assert after["planted_until"] == planted["planted_until"]
    orders = _orders(url)
    new = orders[orders["order_ts"] > pd.Timestamp(end) + pd.Timedelta(days=1)]
    at = new["customer_code"].map(window)
    assert (new.loc[at.notna(), "order_ts"].dt.date >= at.dropna()).sum() == 0  # nothing from day D on
    churned_before_end = {c for c, d in planted["churn_date_by_customer"].items()
                          if d and dt.date.fromisoformat(d) <= end}
    assert not new["customer_code"].isin(churned_before_end).any()


def test_advance_past_the_plan_draws_new_churn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    truth_path = tmp_path / "ground_truth.json"
    generate(url, truth_path, GenerateOptions(scale="small", seed=8))
    planted = json.loads(truth_path.read_text(encoding="utf-8"))["churn"]
    until = dt.date.fromisoformat(planted["planted_until"])
    advance(url, truth_path, 366)
    after = json.loads(truth_path.read_text(encoding="utf-8"))
    dates = after["churn"]["churn_date_by_customer"]
    added = {c: d for c, d in dates.items() if planted["churn_date_by_customer"].get(c) != d}
    assert added, "a year past the end should bring new churn beyond the planted horizon"
    assert all(dt.date.fromisoformat(d) > until for d in added.values())
    assert all(planted["churn_date_by_customer"][c] is None for c in added if c in planted["churn_date_by_customer"])
