"""The services agency in the demo generator: contracts consistent with the invoices, renewal chains with
gaps and early terminations, the funnel's planted rates and paths, filings due by the SLA file, and a shop
with none of it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from warehouse.demo.generator import GenerateOptions, build_dataset
from warehouse.demo.writer import NULL_INT
from warehouse.ingest.source_contract import SERVICES_TABLES

DAY = 86_400


@pytest.fixture(scope="module")
def services():
    return build_dataset(GenerateOptions(scale="small", seed=7, profile="services"))


def _frame(cols: dict) -> pd.DataFrame:
    return pd.DataFrame({k: (v.to_pylist() if hasattr(v, "to_pylist") else np.asarray(v)) for k, v in cols.items()})


def test_a_shop_has_no_services_tables_rows() -> None:
    retail = build_dataset(GenerateOptions(scale="small", seed=7, profile="retail", history_days=120))
    assert all(len(retail.tables[t]["created_at"]) == 0 for t in SERVICES_TABLES)
    assert "services" not in retail.ground_truth
    assert (np.asarray(retail.tables["payments"]["contract_id"]) == NULL_INT).all()


def test_recurring_invoices_follow_the_contracts(services) -> None:
    t = services.tables
    contracts = _frame(t["contracts"])
    payments = _frame(t["payments"])
    orders = _frame(t["orders"])[["order_id", "customer_id", "order_ts"]]
    against = payments[payments["contract_id"] != NULL_INT].merge(orders, on="order_id", suffixes=("", "_o"))
    assert len(against) > 500
    merged = against.merge(contracts, on="contract_id", suffixes=("", "_k"))
    assert len(merged) == len(against)  # every contract a payment names exists
    day = merged["order_ts"] // DAY
    last = np.where(merged["terminated_at"] != NULL_INT, merged["terminated_at"], merged["end_date"])
    assert ((merged["customer_id"] == merged["customer_id_k"]) & (merged["start_date"] <= day) & (day <= last)).all()
    # no invoice of a subscriber's monthly service outside its contracts (gaps and after a non-renewal)
    lines = _frame(t["order_lines"]).merge(orders, on="order_id")
    monthly = lines[lines["product_code"].str.strip().isin(set(contracts["product_code"]))]
    spans = contracts.assign(last=np.where(contracts["terminated_at"] != NULL_INT, contracts["terminated_at"],
                                           contracts["end_date"]))
    covered = monthly.merge(spans, on="customer_id", suffixes=("", "_k"))
    covered = covered[(covered["start_date"] <= covered["order_ts"] // DAY) & (covered["order_ts"] // DAY <= covered["last"])]
    assert set(monthly["order_line_id"]) == set(covered["order_line_id"])
    # inside a term the fee does not move: the term's invoices bill its fee
    fee_of = covered[(covered["product_code"].str.strip() == covered["product_code_k"]) & (covered["unit_price"] > 0)]
    assert len(fee_of) > 500 and (fee_of["unit_price"] == fee_of["fee"]).all()  # (planted negative prices aside)


def test_renewal_chains_have_gaps_early_terminations_and_planted_outcomes(services) -> None:
    contracts = _frame(services.tables["contracts"]).set_index("contract_id")
    truth = services.ground_truth["services"]["renewal"]
    renewed = contracts[contracts["renewed_from_contract_id"] != NULL_INT]
    prev = contracts.loc[renewed["renewed_from_contract_id"]]
    assert (prev["customer_id"].to_numpy() == renewed["customer_id"].to_numpy()).all()
    assert (prev["product_code"].to_numpy() == renewed["product_code"].to_numpy()).all()
    gap = renewed["start_date"].to_numpy() - prev["end_date"].to_numpy() - 1
    assert (gap >= 0).all() and (gap > 0).sum() > 5 and (gap == 0).sum() > 50  # seamless and late renewals
    assert set(prev["status"]) == {"renewed"}
    terminated = contracts[contracts["status"] == "terminated"]
    assert len(terminated) > 5 and (terminated["terminated_at"] <= terminated["end_date"]).all()
    churn = services.ground_truth["churn"]["churn_date_by_customer"]
    for _, row in terminated.iterrows():  # a contract ends early when its customer churned
        assert churn[f"C{row['customer_id']:06d}"] == (dt.date(1970, 1, 1) + dt.timedelta(days=int(row["terminated_at"]))).isoformat()
    outcomes = truth["outcome_by_contract"]
    assert truth["non_renewals"] > 10 and 0 < truth["terminated_early"] <= len(terminated)
    for number, outcome in outcomes.items():
        row = contracts.loc[int(number[2:])]
        if row["status"] == "renewed":
            assert outcome["renewed"], number
    future = [o for o in outcomes.values() if o["after_clock"]]
    assert future and 0.05 < np.mean([not o["renewed"] for o in future]) < 0.6


def test_funnel_plants_rates_skips_and_moves_back(services) -> None:
    t = services.tables
    truth = services.ground_truth["services"]["funnel"]
    leads = _frame(t["leads"])
    customers = _frame(t["customers"])
    won = leads[leads["customer_id"] != NULL_INT].merge(customers, on="customer_id", suffixes=("", "_c"))
    start = (services.state.start_date - dt.date(1970, 1, 1)).days
    assert len(won) == int((customers["signup_date"] >= start).sum())  # one won lead per customer acquired
    assert (won["channel"] == won["acquisition_channel"]).all()  # won in the customer's acquisition channel
    assert (won["owner_id"] == won["sales_rep_id"]).all()
    for channel, planted in truth["conversion_by_channel"].items():
        assert planted["won"] == int((won["channel"] == channel).sum())
        assert planted["leads"] > planted["opportunities"] > planted["won"] > 0
    history = _frame(t["opportunity_stage_history"]).sort_values(["opportunity_id", "changed_at", "stage_change_id"])
    order = {"new": 1, "qualified": 2, "proposal": 3, "negotiation": 4, "won": 5, "lost": 5}
    history["o"] = history["stage"].map(order)
    history["prev"] = history.groupby("opportunity_id")["o"].shift()
    assert (history.groupby("opportunity_id")["stage"].first() == "new").all()
    assert (history["o"] < history["prev"]).sum() > 50  # moved back
    assert ((history["o"] > history["prev"] + 1) & ~history["stage"].isin(["won", "lost"])).sum() > 50  # skipped
    assert truth["slow_reps"] and all(f == truth["slow_rep_factor"] for f in truth["slow_reps"].values())


def test_monthly_filings_are_due_on_the_sla_files_day_of_the_next_month(services) -> None:
    t = services.tables
    orders = _frame(t["service_orders"])
    steps = _frame(t["service_steps"]).merge(orders[["service_order_id", "process", "opened_at"]], on="service_order_id")
    tax = steps[steps["process"] == "monthly_tax_filing"]
    due = pd.to_datetime(tax["due_at"], unit="s")
    opened = pd.to_datetime(tax["opened_at"], unit="s")
    assert len(tax) > 100 and (due.dt.day == 15).all() and (due.dt.hour == 23).all()
    assert ((due.dt.year * 12 + due.dt.month) - (opened.dt.year * 12 + opened.dt.month)).isin([1]).all()
    registration = steps[steps["process"] == "company_registration"].sort_values(["service_order_id", "step_number"])
    first = registration[registration["step_number"] == 1]
    assert set(first["step_code"]) == {"name_check"}
    assert ((first["due_at"] - first["started_at"]) == 3 * DAY).all()  # the SLA file's 3 days
    done = steps[steps["completed_at"] != np.iinfo(np.int64).min]
    assert 0.05 < (done["completed_at"] > done["due_at"]).mean() < 0.5  # some late, most on time


def test_advance_renews_as_planted_and_bills_only_contracts_in_force(tmp_path) -> None:
    import json

    import sqlalchemy as sa

    from warehouse.demo.advance import advance
    from warehouse.demo.generator import generate

    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    truth_path = tmp_path / "truth.json"
    generate(url, truth_path, GenerateOptions(scale="small", seed=7, profile="services"))
    advance(url, truth_path, 45)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        contracts = pd.read_sql(sa.text("select * from contracts"), conn, parse_dates=["start_date", "end_date"])
        billed = pd.read_sql(sa.text("""select p.payment_id, p.contract_id, o.customer_id, o.order_ts from payments p
                                        join orders o on o.order_id = p.order_id
                                        where p.contract_id is not null and p.created_at > '2025-12-31 23:59:59'"""),
                             conn, parse_dates=["order_ts"])
        steps = conn.execute(sa.text("select count(*) from service_steps where created_at > '2025-12-31 23:59:59'")).scalar()
    engine.dispose()
    truth = json.loads(truth_path.read_text(encoding="utf-8"))["services"]["renewal"]["outcome_by_contract"]
    new = contracts[contracts["created_at"] > "2025-12-31 23:59:59"]
    assert len(new) > 0 and len(billed) > 50 and steps > 100
    prev = contracts.set_index("contract_id").loc[new["renewed_from_contract_id"].astype(int)]
    assert set(prev["status"]) == {"renewed"} and (prev["end_date"].to_numpy() < new["start_date"].to_numpy()).all()
    assert all(truth[n]["renewed"] for n in prev["contract_number"])  # renewed as the ground truth planted
    ended = contracts[(contracts["status"] == "expired") & (contracts["end_date"] >= "2026-01-01")]
    assert all(not truth[n]["renewed"] or truth[n]["next_start_date"] > "2026-02-14" for n in ended["contract_number"])
    merged = billed.merge(contracts, on="contract_id", suffixes=("", "_k"))
    assert len(merged) == len(billed) and (merged["customer_id"] == merged["customer_id_k"]).all()
    assert ((merged["order_ts"].dt.normalize() >= merged["start_date"])
            & (merged["order_ts"].dt.normalize() <= merged["end_date"])).all()
