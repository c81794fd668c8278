"""``crmwh demo advance``: only inserts or updates, always with updated_at after the old clock."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from warehouse.demo.advance import advance
from warehouse.demo.config import DemoError
from warehouse.demo.generator import GenerateOptions, generate
from warehouse.demo.state import read_state
from warehouse.ingest import source_contract as schema


def _snapshot(url: str) -> dict[str, pd.DataFrame]:
    """Every source table as stored (SQLite text timestamps compare in time order)."""
    engine = sa.create_engine(url)
    frames = {}
    for name in schema.SOURCE_TABLES:
        frame = pd.read_sql(sa.text(f"select * from {name}"), engine)  # noqa: S608
        for column in ("created_at", "updated_at", "order_ts"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column])
        frames[name] = frame.set_index(schema.PRIMARY_KEYS[name])
    engine.dispose()
    return frames


def _clock(url: str) -> dt.datetime:
    engine = sa.create_engine(url)
    try:
        return read_state(engine).business_clock
    finally:
        engine.dispose()


@pytest.mark.parametrize("profile", ["retail", "services"])
def test_advance_only_adds_or_updates_rows_with_later_updated_at(tmp_path: Path, profile: str) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    truth_path = tmp_path / "ground_truth.json"
    generate(url, truth_path, GenerateOptions(scale="small", seed=21, profile=profile))
    for days in ((7, 30) if profile == "retail" else (14,)):
        before = _snapshot(url)
        old_clock = _clock(url)
        result = advance(url, truth_path, days)
        after = _snapshot(url)
        new_clock = _clock(url)
        assert result.old_clock == old_clock
        assert new_clock == old_clock + dt.timedelta(days=days) == result.new_clock
        touched = 0
        for name in schema.SOURCE_TABLES:
            old, new = before[name], after[name]
            assert set(old.index) <= set(new.index), f"{name}: rows disappeared"
            common = new.loc[old.index]
            changed = ~(common.eq(old) | (common.isna() & old.isna())).all(axis=1)
            assert (common.loc[changed, "updated_at"] > old_clock).all(), f"{name}: update without later updated_at"
            assert (common.loc[~changed, "updated_at"] == old.loc[~changed, "updated_at"]).all()
            added = new.loc[sorted(set(new.index) - set(old.index))]
            assert (added["created_at"] > old_clock).all() and (added["updated_at"] > old_clock).all(), name
            assert (new["updated_at"] <= new_clock).all(), name
            if len(added):
                assert added.index.min() > old.index.max(), f"{name}: new ids must follow the old ones"
            touched += int(changed.sum()) + len(added)
            assert result.inserted.get(name, 0) == len(added), name
        assert touched > 0
        for name in ("customers", "orders", "order_lines", "service_tickets", "interactions"):
            assert result.inserted.get(name, 0) > 0, name
        assert result.updated.get("service_tickets", 0) > 0  # open tickets got responses or resolutions
        assert result.updated.get("customers", 0) > 0  # attribute changes
    if profile == "services":  # monthly invoices continue for subscribers
        from warehouse.demo.config import get_profile, load_catalog

        catalog = load_catalog(get_profile("services"))
        monthly = set(catalog.codes[catalog.billing == "monthly"].tolist())
        new_lines = after["order_lines"].loc[sorted(set(after["order_lines"].index) - set(before["order_lines"].index))]
        assert new_lines["product_code"].str.strip().isin(monthly).sum() > 20
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    assert len(truth["advances"]) == (2 if profile == "retail" else 1)
    # customers whose true churn date has passed place no orders after it
    churn = pd.to_datetime(after["customers"]["customer_code"].map(truth["churn"]["churn_date_by_customer"]))
    orders = after["orders"].dropna(subset=["customer_id"])
    at = orders["customer_id"].map(churn.set_axis(after["customers"].index))
    assert (orders["order_ts"].dt.normalize() > at).sum() == 0
    # the order header still reconciles with the lines it gained
    lines = after["order_lines"]
    sums = lines.groupby("order_id")["line_amount"].sum()
    assert (after["orders"]["order_total"].sub(sums, fill_value=0).abs() < 0.005).all()


def test_advance_is_deterministic(tmp_path: Path) -> None:
    snapshots = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / f'{name}.sqlite'}"
        generate(url, tmp_path / f"{name}.json", GenerateOptions(scale="small", seed=4))
        advance(url, tmp_path / f"{name}.json", 5)
        snapshots.append(_snapshot(url))
    for name in schema.SOURCE_TABLES:
        pd.testing.assert_frame_equal(snapshots[0][name], snapshots[1][name])


def test_advance_needs_a_demo_source(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    with pytest.raises(DemoError, match="demo generate"):
        advance(url, None, 3)
    with pytest.raises(DemoError, match="--days"):
        advance(url, None, 0)
