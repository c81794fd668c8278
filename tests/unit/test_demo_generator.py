"""The demo CRM generator: determinism, sizes, planted bundles and churn, dirt, contracts of the source."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from warehouse.demo.checksum import table_checksums
from warehouse.demo.config import SCALES, DemoError, get_profile, load_catalog, planned_counts
from warehouse.demo.generator import GenerateOptions, build_dataset, generate, source_exists
from warehouse.ingest import source_contract as schema

SMALL = GenerateOptions(scale="small", seed=11, profile="retail")


@pytest.fixture(scope="module")
def small_source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("demo_small")
    url = f"sqlite:///{base / 'crm.sqlite'}"
    truth_path = base / "ground_truth.json"
    result = generate(url, truth_path, SMALL)
    engine = sa.create_engine(url)
    frames = {name: pd.read_sql_table(name, engine) for name in schema.SOURCE_TABLES}
    engine.dispose()
    return {"url": url, "truth": json.loads(truth_path.read_text(encoding="utf-8")), "frames": frames,
            "result": result, "base": base}


def test_same_seed_gives_identical_database_and_other_seed_differs(small_source, tmp_path: Path) -> None:
    again = f"sqlite:///{tmp_path / 'again.sqlite'}"
    generate(again, tmp_path / "gt.json", SMALL)
    first = table_checksums(small_source["url"])
    assert table_checksums(again) == first
    assert json.loads((tmp_path / "gt.json").read_text(encoding="utf-8")) == small_source["truth"]
    other = f"sqlite:///{tmp_path / 'other.sqlite'}"
    generate(other, None, GenerateOptions(scale="small", seed=12, profile="retail"))
    different = table_checksums(other)
    assert different["orders"] != first["orders"]
    assert different["customers"] != first["customers"]


def test_small_scale_hits_its_sizes(small_source) -> None:
    counts = small_source["result"].counts
    plan = planned_counts("small", "retail")
    assert counts["customers"] == plan["customers"] == 2_000
    assert counts["employees"] == plan["employees"]
    for table in ("orders", "order_lines", "service_tickets", "interactions"):
        assert abs(counts[table] - plan[table]) <= 0.15 * plan[table], (table, counts[table], plan[table])
    assert 18_000 <= counts["order_lines"] <= 22_000
    assert len(small_source["frames"]["products"]) == len(load_catalog(get_profile("retail")))


def test_planned_sizes_of_medium_and_large_match_the_issue() -> None:
    medium, large = planned_counts("medium", "retail"), planned_counts("large", "retail")
    assert medium["customers"] == 20_000 and abs(medium["order_lines"] - 500_000) <= 25_000
    assert large["customers"] == 200_000 and large["orders"] == 1_000_000
    assert abs(large["order_lines"] - 5_000_000) <= 250_000 and large["service_tickets"] == 300_000
    # the generator draws per-customer rates and rescales them to the planned order count exactly in
    # expectation; check that on the medium plan without writing anything
    data = build_dataset(GenerateOptions(scale="medium", seed=3))
    assert abs(len(data.tables["orders"]["order_id"]) - medium["orders"]) <= 0.03 * medium["orders"]
    assert abs(len(data.tables["order_lines"]["order_id"]) - medium["order_lines"]) <= 0.05 * medium["order_lines"]


def test_catalogs_are_data_files_of_the_expected_size() -> None:
    retail = load_catalog(get_profile("retail"))
    services = load_catalog(get_profile("services"))
    assert 1_900 <= len(retail) <= 2_100 and 38 <= len(set(retail.categories)) <= 45
    assert 60 <= len(services) <= 150
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in name) for name in services.names)
    assert all(name_en for name_en in services.names_en)
    assert {"monthly", "one_off", "annual"} <= set(services.billing)


def test_planted_bundles_co_occur_with_high_lift(small_source) -> None:
    lines = small_source["frames"]["order_lines"]
    lines = lines.assign(code=lines["product_code"].str.strip().str.upper())
    baskets = lines[lines["quantity"] > 0].groupby("order_id")["code"].apply(set)
    n = len(baskets)
    bundles = small_source["truth"]["bundles"]
    assert 5 <= len(bundles) <= 8
    for bundle in bundles:
        codes = [c.upper() for c in bundle["product_codes"]]
        assert 2 <= len(codes) <= 3
        a, b = codes[0], codes[1]
        p_a = baskets.apply(lambda s, a=a: a in s).mean()
        p_b = baskets.apply(lambda s, b=b: b in s).mean()
        p_ab = baskets.apply(lambda s, a=a, b=b: a in s and b in s).mean()
        lift = p_ab / (p_a * p_b)
        assert lift > 5, (bundle, lift)
        assert p_ab == pytest.approx(bundle["share_of_baskets"], abs=0.015)
        assert bundle["orders_with_bundle"] / n == pytest.approx(bundle["share_of_baskets"], abs=0.015)


def test_churn_drivers_are_present(small_source) -> None:
    truth = small_source["truth"]["churn"]
    frames = small_source["frames"]
    customers = frames["customers"]
    # the map also holds the planted future (after the end date, up to planted_until): history only here
    end = small_source["truth"]["end_date"]
    dates = customers["customer_code"].map(truth["churn_date_by_customer"]).where(lambda d: d <= end)
    churned = dates.notna()
    assert 0.08 < churned.mean() < 0.5
    assert set(truth["coefficients"]) == {"complaints", "slow_resolutions", "low_satisfaction", "purchase_decline"}
    tickets = frames["service_tickets"]
    per = tickets.groupby("customer_id").agg(
        complaints=("ticket_type", lambda s: (s == "complaint").sum()),
        sat=("satisfaction", lambda s: s[(s >= 1) & (s <= 5)].mean()),
        hours=("resolved_at", "count"),
    )
    resolution = (tickets["resolved_at"] - tickets["opened_at"]).dt.total_seconds() / 3600
    tickets = tickets.assign(resolution=resolution.where(resolution >= 0))
    per["resolution"] = tickets.groupby("customer_id")["resolution"].mean()
    ids = customers["customer_id"]
    joined = per.reindex(ids).assign(churned=churned.to_numpy())
    joined["complaints"] = joined["complaints"].fillna(0)
    by = joined.groupby("churned")
    assert by["complaints"].mean()[True] > 1.5 * by["complaints"].mean()[False]
    assert by["sat"].mean()[True] < by["sat"].mean()[False] - 0.2
    assert by["resolution"].mean()[True] > by["resolution"].mean()[False]
    # purchase frequency falls before churn: orders in the 180 days before churn vs the 180 days before that
    orders = frames["orders"].dropna(subset=["customer_id"])
    churn_ts = pd.to_datetime(dates[churned]).set_axis(ids[churned])
    start = pd.Timestamp(small_source["truth"]["start_date"])
    signup = pd.to_datetime(customers["signup_date"]).set_axis(ids)
    # churners observable over the whole year before their churn date
    full_year = churn_ts[(churn_ts - pd.Timedelta(days=360) >= start)
                         & (signup.reindex(churn_ts.index) <= churn_ts - pd.Timedelta(days=360))]
    assert len(full_year) > 50
    o = orders[orders["customer_id"].isin(full_year.index)]
    at = o["customer_id"].map(full_year)
    recent = ((o["order_ts"] <= at) & (o["order_ts"] > at - pd.Timedelta(days=180))).sum()
    before = ((o["order_ts"] <= at - pd.Timedelta(days=180)) & (o["order_ts"] > at - pd.Timedelta(days=360))).sum()
    assert recent < 0.9 * before
    # a churned customer buys nothing after the churn date (day resolution)
    o = orders[orders["customer_id"].isin(churn_ts.index)]
    assert (o["order_ts"].dt.normalize() > o["customer_id"].map(churn_ts)).sum() == 0


def test_dirt_is_present_at_about_the_configured_rate(small_source) -> None:
    counts = small_source["truth"]["dirt"]["counts"]
    rate = small_source["truth"]["dirt"]["rate"]
    f = small_source["frames"]
    lines, customers, tickets = f["order_lines"], f["customers"], f["service_tickets"]
    n_lines = len(lines) - counts["order_line_duplicates"]
    dup = lines.duplicated(subset=["order_id", "line_number"]).sum()
    assert dup == counts["order_line_duplicates"]
    assert dup == pytest.approx(n_lines * rate * 0.5, rel=0.2)
    spaces = (lines["product_code"] != lines["product_code"].str.strip()).sum()
    assert spaces >= counts["order_line_code_trailing_space"]
    assert spaces == pytest.approx(n_lines * rate, rel=0.25)
    lower = lines["product_code"].str.contains("[a-z]", regex=True).sum()
    assert lower >= counts["order_line_code_case_variant"] > 0
    assert (lines["quantity"] == 0).sum() >= counts["order_line_zero_quantity"] > 0
    assert (lines["unit_price"] < 0).sum() >= counts["order_line_negative_price"] > 0
    assert customers["email"].isna().sum() == counts["customer_missing_email"]
    assert customers["email"].isna().mean() == pytest.approx(3 * rate, rel=0.2)
    assert (customers["name"] != customers["name"].str.strip()).sum() >= counts["customer_name_trailing_space"]
    bad_phone = ~customers["phone"].str.fullmatch(r"(\+44 ?)?0?7\d{3} ?\d{6}")
    assert bad_phone.sum() == counts["customer_bad_phone"]
    sat = tickets["satisfaction"].dropna()
    assert ((sat < 1) | (sat > 5)).sum() == counts["ticket_satisfaction_out_of_range"] > 0
    backwards = (tickets["resolved_at"] < tickets["opened_at"]).sum()
    assert backwards == counts["ticket_resolved_before_opened"] > 0


def test_source_contracts_hold_apart_from_planted_dirt(small_source) -> None:
    f = small_source["frames"]
    lines, orders, tickets = f["order_lines"], f["orders"], f["service_tickets"]
    # the header total is the sum of the lines as stored (dirty lines included): they reconcile
    sums = lines.groupby("order_id")["line_amount"].sum()
    totals = orders.set_index("order_id")["order_total"]
    assert (totals.sub(sums, fill_value=0).abs() < 0.005).all()
    assert (lines["quantity"] < 0).sum() > 0  # returns
    assert set(orders["status"]) >= {"completed", "cancelled", "partially_returned"}
    assert orders["customer_id"].isna().mean() == pytest.approx(0.05, abs=0.02)  # guest orders
    assert set(tickets["ticket_type"]) == {"complaint", "inquiry", "request", "follow_up"}
    assert set(tickets["channel"]) == {"phone", "web", "email", "wechat", "visit"}
    ok = tickets["resolved_at"].isna() | (tickets["resolved_at"] >= tickets["opened_at"])
    fr = tickets[ok & tickets["first_response_at"].notna()]
    assert (fr["first_response_at"] >= fr["opened_at"]).all()
    done = fr[fr["resolved_at"].notna()]
    assert (done["resolved_at"] >= done["first_response_at"]).all()
    end = dt.datetime(2025, 12, 31, 23, 59, 59)
    for name, frame in f.items():
        if frame.empty:  # the services agency's tables are empty in a shop's CRM
            continue
        assert (frame["created_at"] <= frame["updated_at"]).all(), name
        assert frame["updated_at"].max() <= end, name
        assert frame["is_deleted"].dtype == bool, name
    payments = f["payments"]
    late = (payments["paid_at"].dt.normalize() > payments["due_date"]).sum()
    assert late > 0 and payments["paid_at"].isna().sum() > 0
    products = f["products"]
    assert (products["updated_at"] > products["created_at"]).mean() > 0.4  # price changes
    merged = lines.assign(code=lines["product_code"].str.strip().str.upper()).merge(
        products.assign(code=products["product_code"].str.upper())[["code", "unit_price"]],
        on="code", suffixes=("", "_now"))
    assert (merged["unit_price"].abs() != merged["unit_price_now"]).mean() > 0.2  # price at sale time


def test_sqlite_timestamps_compare_correctly_with_bound_parameters(small_source) -> None:
    """Watermark filters (updated_at > :ts) must agree with the values themselves."""
    engine = sa.create_engine(small_source["url"])
    orders = schema.orders
    cut = dt.datetime(2025, 6, 30, 12, 0, 0)
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(orders).where(orders.c.updated_at > cut)).scalar()
        raw = conn.execute(sa.text("select updated_at from orders limit 1")).scalar()
    engine.dispose()
    expected = (small_source["frames"]["orders"]["updated_at"] > cut).sum()
    assert n == expected
    assert len(raw) == 26 and raw[10] == " "


def test_generate_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'src.sqlite'}"
    generate(url, None, GenerateOptions(scale="small", seed=1))
    assert source_exists(url)
    with pytest.raises(DemoError, match="--force"):
        generate(url, None, GenerateOptions(scale="small", seed=2))
    before = table_checksums(url, ("orders",))
    generate(url, None, GenerateOptions(scale="small", seed=3), force=True)
    assert table_checksums(url, ("orders",)) != before


@pytest.mark.parametrize("bad", [{"scale": "huge"}, {"profile": "bakery"}, {"dirt_rate": 0.9},
                                 {"history_days": 10}])
def test_bad_options_are_clear_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(DemoError):
        build_dataset(GenerateOptions(**bad))


def test_services_profile_sells_recurring_bilingual_services(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'services.sqlite'}"
    generate(url, tmp_path / "gt.json", GenerateOptions(scale="small", seed=5, profile="services"))
    engine = sa.create_engine(url)
    products = pd.read_sql_table("products", engine)
    orders = pd.read_sql_table("orders", engine)
    lines = pd.read_sql_table("order_lines", engine)
    payments = pd.read_sql_table("payments", engine)
    engine.dispose()
    assert products["name_en"].notna().all()
    assert set(orders["currency"]) == {"CNY"}
    assert abs(len(orders) - SCALES["small"].orders) <= 0.15 * SCALES["small"].orders
    monthly = set(load_catalog(get_profile("services")).codes[
        load_catalog(get_profile("services")).billing == "monthly"])
    m = lines[lines["product_code"].str.strip().isin(monthly)].merge(orders, on="order_id")
    m = m.drop_duplicates("order_id").sort_values("order_ts")
    per_customer = m.groupby("customer_id")["order_ts"].agg(["count", lambda s: s.diff().dt.days.median()])
    regular = per_customer[per_customer["count"] >= 6]
    assert len(regular) > 50
    assert regular.iloc[:, 1].median() == pytest.approx(30, abs=3)  # monthly cadence
    invoiced = payments.merge(orders[["order_id", "order_ts"]], on="order_id")
    terms = (pd.to_datetime(invoiced["due_date"]) - invoiced["order_ts"].dt.normalize()).dt.days
    assert (terms == 15).mean() > 0.9


def test_dirt_rate_is_a_parameter_and_the_calendar_ends_on_the_given_date() -> None:
    clean = build_dataset(GenerateOptions(scale="small", seed=2, dirt_rate=0.0, end_date=dt.date(2024, 6, 30)))
    assert set(clean.ground_truth["dirt"]["counts"].values()) == {0}
    lines = clean.tables["order_lines"]
    keys = pd.DataFrame({"o": lines["order_id"], "n": lines["line_number"]})
    assert not keys.duplicated().any()
    assert (lines["quantity"] != 0).all() and (lines["unit_price"] > 0).all()
    end = (dt.date(2024, 7, 1) - dt.date(1970, 1, 1)).days * 86_400
    for name, table in clean.tables.items():
        assert len(table["updated_at"]) == 0 or int(np.max(table["updated_at"])) < end, name
    assert clean.state.business_clock == dt.datetime(2024, 6, 30, 23, 59, 59)
    dirty = build_dataset(GenerateOptions(scale="small", seed=2, dirt_rate=0.05))
    base = build_dataset(GenerateOptions(scale="small", seed=2, dirt_rate=0.01))
    for kind, n in base.ground_truth["dirt"]["counts"].items():
        if n >= 20:
            assert dirty.ground_truth["dirt"]["counts"][kind] == pytest.approx(5 * n, rel=0.25), kind


def test_churn_is_planted_past_the_end_date(small_source) -> None:
    truth = small_source["truth"]["churn"]
    end = dt.date.fromisoformat(small_source["truth"]["end_date"])
    until = dt.date.fromisoformat(truth["planted_until"])
    assert (until - end).days >= 180
    dates = [dt.date.fromisoformat(d) for d in truth["churn_date_by_customer"].values() if d]
    future = [d for d in dates if d > end]
    assert len(future) == truth["churned_after_end_date"] > 20 and max(future) <= until
    assert len(dates) - len(future) == truth["churned_by_end_date"]
    # future churners still trade and open tickets before the end: nothing in the source says they churn
    codes = {c for c, d in truth["churn_date_by_customer"].items() if d and dt.date.fromisoformat(d) > end}
    customers = small_source["frames"]["customers"]
    ids = set(customers.loc[customers["customer_code"].isin(codes), "customer_id"])
    assert small_source["frames"]["orders"]["customer_id"].isin(ids).sum() > 0
    assert (small_source["frames"]["service_tickets"]["opened_at"] <= pd.Timestamp(end) + pd.Timedelta(days=1)).all()
