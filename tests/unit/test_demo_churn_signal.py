"""The planted churn is learnable: a plain model on observable features reaches ROC AUC >= 0.75 out of time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from warehouse.demo.config import DAY
from warehouse.demo.generator import GenerateOptions, build_dataset

HORIZON_DAYS = 90


def _frame(table: dict, columns: list[str]) -> pd.DataFrame:
    out = {}
    for c in columns:
        values = table[c]
        out[c] = values.to_numpy(zero_copy_only=False) if hasattr(values, "to_numpy") else np.asarray(values)
    return pd.DataFrame(out)


def _features(customers: pd.DataFrame, orders: pd.DataFrame, tickets: pd.DataFrame, churn: pd.Series,
              cutoff: int) -> pd.DataFrame:
    """Features as of ``cutoff`` (epoch seconds) from the source rows only; label = true churn in the horizon."""
    alive = customers[(customers["created_at"] <= cutoff)].copy()
    alive = alive[churn.reindex(alive["customer_id"]).fillna(np.inf).to_numpy() > cutoff]
    past = orders[orders["order_ts"] <= cutoff]
    t_past = tickets[tickets["opened_at"] <= cutoff]
    f = pd.DataFrame(index=alive["customer_id"])
    last = past.groupby("customer_id")["order_ts"].max()
    f["recency_days"] = ((cutoff - last.reindex(f.index)) / DAY).fillna(1000)
    for days in (90, 365):
        window = past[past["order_ts"] > cutoff - days * DAY]
        f[f"orders_{days}"] = window.groupby("customer_id").size().reindex(f.index).fillna(0)
        tw = t_past[t_past["opened_at"] > cutoff - days * DAY]
        f[f"tickets_{days}"] = tw.groupby("customer_id").size().reindex(f.index).fillna(0)
        f[f"complaints_{days}"] = tw[tw["ticket_type"] == "complaint"].groupby("customer_id").size() \
            .reindex(f.index).fillna(0)
        sat = tw[(tw["satisfaction"] >= 1) & (tw["satisfaction"] <= 5)]
        f[f"low_sat_{days}"] = sat[sat["satisfaction"] <= 2].groupby("customer_id").size().reindex(f.index).fillna(0)
        res = tw[(tw["resolved_at"] > 0) & (tw["resolved_at"] <= cutoff)]
        slow = res[(res["resolved_at"] - res["opened_at"]) > 72 * 3600]
        f[f"slow_{days}"] = slow.groupby("customer_id").size().reindex(f.index).fillna(0)
    f["trend"] = (f["orders_90"] * 4 + 1) / (f["orders_365"] + 1)
    until = churn.reindex(f.index).fillna(np.inf)
    f["y"] = ((until > cutoff) & (until <= cutoff + HORIZON_DAYS * DAY)).astype(int)
    return f


@pytest.mark.slow
def test_planted_churn_reaches_auc_075_out_of_time() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    data = build_dataset(GenerateOptions(scale="medium", seed=42))
    t = data.tables
    customers = _frame(t["customers"], ["customer_id", "customer_code", "created_at"])
    orders = _frame(t["orders"], ["customer_id", "order_ts"])
    orders = orders[orders["customer_id"] > 0]
    tickets = _frame(t["service_tickets"], ["customer_id", "ticket_type", "opened_at", "resolved_at",
                                             "satisfaction"])
    dates = data.ground_truth["churn"]["churn_date_by_customer"]
    churn_day = pd.to_datetime(customers["customer_code"].map(dates))
    churn = pd.Series(((churn_day - pd.Timestamp("1970-01-01")).dt.days * DAY + DAY - 1).to_numpy(),
                      index=customers["customer_id"])
    end = (pd.Timestamp(data.ground_truth["end_date"]) - pd.Timestamp("1970-01-01")).days * DAY
    train = pd.concat([_features(customers, orders, tickets, churn, end - d * DAY) for d in (450, 360, 270)])
    test = _features(customers, orders, tickets, churn, end - 180 * DAY)
    x = [c for c in train.columns if c != "y"]
    model = LogisticRegression(max_iter=2000).fit(np.log1p(train[x]), train["y"])
    auc = roc_auc_score(test["y"], model.predict_proba(np.log1p(test[x]))[:, 1])
    assert test["y"].sum() > 200
    assert auc >= 0.75, auc
