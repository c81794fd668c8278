"""The demo's planted taste, sequences and bundles come back out of the methods meant to find them
(small demo, seed 11, generated in memory; no warehouse)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from transforms.association import MiningParams, mine
from transforms.baskets import baskets_from_pairs
from transforms.recommender import Purchases, sequence_matrix
from warehouse.analytics.rule_miner import rank_rules
from warehouse.demo.generator import GenerateOptions, build_dataset
from warehouse.foundation.settings import MiningSettings, RecommenderSettings


def _col(values: object) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False) if hasattr(values, "to_numpy") else np.asarray(values)


@pytest.fixture(scope="module")
def demo() -> dict:
    data = build_dataset(GenerateOptions(scale="small", seed=11))
    lines, orders = data.tables["order_lines"], data.tables["orders"]
    o = pd.DataFrame({"order_id": _col(orders["order_id"]), "customer_id": _col(orders["customer_id"]),
                      "order_ts": pd.to_datetime(_col(orders["order_ts"]), unit="s"),
                      "status": _col(orders["status"])})
    li = pd.DataFrame({"order_id": _col(lines["order_id"]), "quantity": _col(lines["quantity"]),
                       "product_id": pd.Series(_col(lines["product_code"]), dtype="string").str.strip().str.upper()})
    frame = li.merge(o, on="order_id")
    frame = frame[(frame["quantity"] > 0) & (frame["status"] != "cancelled") & (frame["customer_id"] > 0)]
    return {"truth": data.ground_truth, "lines": frame}


def test_taste_and_sequences_are_in_the_ground_truth_only(demo: dict) -> None:
    truth = demo["truth"]
    taste = truth["taste"]
    assert len(taste["customers"]) == 2_000 and taste["lines_from_taste"] > 0
    start_cats, start_w, end_cats, end_w = taste["customers"]["C000001"]
    assert len(start_cats) == len(end_cats) == taste["favourite_categories"]
    assert sum(start_w) == pytest.approx(1.0, abs=0.01) and sum(end_w) == pytest.approx(1.0, abs=0.01)
    assert len(truth["sequences"]) >= 5
    assert all(s["orders_given_consequent"] > 0 for s in truth["sequences"])


def test_planted_sequences_are_found_by_the_sequence_signal(demo: dict) -> None:
    lines = demo["lines"]
    settings = RecommenderSettings()
    items = np.array(sorted(lines["product_id"].unique()), dtype=object)
    purchases = Purchases.from_frame(lines.astype({"customer_id": str, "order_id": str}))
    seq = sequence_matrix(purchases, items, settings.sequence_days, settings.sequence_min_customers,
                          settings.sequence_min_lift).tocsr()
    pos = {p: i for i, p in enumerate(items.tolist())}
    found = []
    for s in demo["truth"]["sequences"]:
        a, b = pos[s["antecedent_code"]], pos[s["consequent_code"]]
        row = seq[a].toarray().ravel()
        # B is A's strongest next purchase, with a conditional share near what was planted
        found.append(row[b] > 0 and int(np.argmax(row)) == b)
    assert sum(found) >= len(found) - 1, found


def test_planted_bundles_rank_at_the_top_by_lift_lower(demo: dict) -> None:
    lines = demo["lines"]
    baskets = baskets_from_pairs(lines["order_id"].to_numpy(), lines["product_id"].to_numpy())
    result = mine(baskets, MiningParams(min_support=0.004, min_lift=0.0, min_confidence=0.1, max_len=3))
    rules = rank_rules(result.rules, MiningSettings())
    offer = rules[rules["is_offerable"]].sort_values("rule_rank")
    bundles = [set(b["product_codes"]) for b in demo["truth"]["bundles"]]
    inside = [any(set(a) | set(c) <= b for b in bundles) for a, c in zip(offer["antecedent"], offer["consequent"],
                                                                         strict=True)]
    # the planted bundles' rules are the top of the ranking: every one of them ranks above every other
    # offerable rule (those come from the planted taste: products of one category bought together)
    assert inside and inside[0] and True in inside
    first_other = inside.index(False) if False in inside else len(inside)
    assert all(inside[:first_other]) and not any(inside[first_other:])
    for b in bundles:
        pairs = {frozenset(p) for p in itertools.combinations(b, 2)}
        assert any(frozenset(set(a) | set(c)) in pairs or (set(a) | set(c)) == b
                   for a, c in zip(offer["antecedent"], offer["consequent"], strict=True)), b
