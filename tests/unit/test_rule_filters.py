"""Offerable rules: Webb's improvement and productivity, significance after BH, the ranking measure,
on hand-made baskets whose answers are worked out below."""

from __future__ import annotations

import pandas as pd
import pytest

from transforms.association import MiningParams, mine, wilson_lower
from transforms.baskets import baskets_from_lists
from warehouse.analytics.rule_miner import offerable, rank_rules
from warehouse.foundation.settings import MiningSettings


def _baskets() -> list[list[str]]:
    """200 baskets.

    A and B go together: A in 60 baskets, B in 50, both in 45: conf(A -> B) = 0.75, lift 3.
    C is a best-seller bought independently of A and B: in half of every group below.
    D and E only go together with F: {D, F, E} 12 times, {D} 12, {F} 12, {E} 4, so
    conf(D, F -> E) = 1.0 while conf(D -> E) = conf(F -> E) = 0.5.
    """
    out: list[list[str]] = []
    groups = [(["A", "B"], 45), (["A"], 15), (["B"], 5), (["D", "F", "E"], 12), (["D"], 12), (["F"], 12),
              (["E"], 4), (["G"], 95)]
    for items, count in groups:
        for k in range(count):
            out.append(items + (["C"] if k % 2 == 0 else []))
    return out


@pytest.fixture(scope="module")
def rules() -> pd.DataFrame:
    result = mine(baskets_from_lists(_baskets()), MiningParams(min_support=3, min_lift=0.0, min_confidence=0.0, max_len=3))
    return rank_rules(result.rules, MiningSettings(offer_min_lift=1.2))


def _rule(rules: pd.DataFrame, ante: tuple[str, ...], cons: str) -> pd.Series:
    hit = rules[(rules["antecedent"].map(tuple) == ante) & (rules["consequent"].map(tuple) == (cons,))]
    assert len(hit) == 1, (ante, cons)
    return hit.iloc[0]


def test_the_planted_pair_is_significant_productive_and_offerable(rules: pd.DataFrame) -> None:
    r = _rule(rules, ("A",), "B")
    assert r["confidence"] == pytest.approx(45 / 60)
    # its only generalization is the empty antecedent: confidence = support of B = 50 / 200
    assert r["improvement"] == pytest.approx(45 / 60 - 50 / 200)
    assert r["is_significant"] and r["is_productive"] and r["is_offerable"]
    assert r["productivity_p"] == pytest.approx(r["fisher_p"])


def test_adding_an_unrelated_best_seller_is_not_productive(rules: pd.DataFrame) -> None:
    # {A, C} -> B: C is independent, so confidence stays about A -> B's: not better than the general rule
    r = _rule(rules, ("A", "C"), "B")
    general = _rule(rules, ("A",), "B")
    assert r["improvement"] == pytest.approx(r["confidence"] - general["confidence"])
    assert not r["is_productive"] and not r["is_offerable"]
    # the best-seller alone predicts nothing: C -> B has lift about 1 and is neither significant nor productive
    c = _rule(rules, ("C",), "B")
    assert c["lift"] == pytest.approx(1.0, abs=0.1)
    assert not c["is_significant"] and not c["is_offerable"]


def test_an_interaction_of_two_items_is_productive_over_each_alone(rules: pd.DataFrame) -> None:
    r = _rule(rules, ("D", "F"), "E")
    assert r["confidence"] == pytest.approx(1.0)
    d, f = _rule(rules, ("D",), "E"), _rule(rules, ("F",), "E")
    assert d["confidence"] == pytest.approx(0.5) and f["confidence"] == pytest.approx(0.5)
    assert r["improvement"] == pytest.approx(0.5)
    assert r["is_productive"] and r["productivity_p"] < 0.05


def test_a_rule_below_the_offer_lift_is_not_offerable_and_the_ranking_measure_is_documented(
        rules: pd.DataFrame) -> None:
    strict = rank_rules(rules.drop(columns=["is_offerable", "rule_rank"]), MiningSettings(offer_min_lift=100.0))
    assert not strict["is_offerable"].any()
    r = _rule(rules, ("A",), "B")
    assert r["lift_lower"] == pytest.approx(float(wilson_lower([45], [60])[0]) / (50 / 200))
    assert r["lift_lower"] < r["lift"]
    # rule_rank follows lift_lower, 1 = best
    ordered = rules.sort_values("rule_rank")
    assert ordered["lift_lower"].is_monotonic_decreasing and ordered["rule_rank"].iloc[0] == 1
    assert offerable(rules, MiningSettings(offer_min_lift=1.2)).equals(rules["is_offerable"])


def test_wilson_lower_bound_matches_the_textbook_value() -> None:
    # 8 of 10 at 95%: Wilson interval (0.490, 0.943)
    assert float(wilson_lower([8], [10])[0]) == pytest.approx(0.4902, abs=1e-4)
    assert float(wilson_lower([0], [0])[0]) == 0.0
