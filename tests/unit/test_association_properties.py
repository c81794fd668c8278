"""Property tests: both counters equal a brute-force count; rules equal a brute-force exact filter."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.association import MiningParams, frequent_itemsets, mine
from transforms.baskets import baskets_from_lists

ITEMS = "ABCDEFG"
baskets_st = st.lists(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=5), min_size=1, max_size=40)
decimal_st = st.integers(min_value=0, max_value=20).map(lambda k: k / 20)  # 0.0, 0.05, ..., 1.0


def _count(baskets: list[set[str]], items: tuple[str, ...]) -> int:
    return sum(1 for b in baskets if set(items) <= b)


@settings(max_examples=40, deadline=None)
@given(baskets=baskets_st, min_count=st.integers(min_value=1, max_value=6), max_len=st.integers(1, 4))
def test_counters_equal_brute_force(baskets: list[list[str]], min_count: int, max_len: int) -> None:
    sets = [set(b) for b in baskets]
    expected = {}
    for k in range(1, max_len + 1):
        for items in itertools.combinations(sorted(set().union(*sets)), k):
            c = _count(sets, items)
            if c >= min_count:
                expected[items] = c
    data = baskets_from_lists(baskets)
    for counter in ("mlxtend", "sparse"):
        got = frequent_itemsets(data, min_count, max_len, counter)
        assert dict(zip(got["itemset"], got["count"], strict=True)) == expected, counter


@settings(max_examples=40, deadline=None)
@given(baskets=baskets_st, min_count=st.integers(1, 4), conf=decimal_st, lift=st.sampled_from([0, 0.5, 1, 1.25, 1.5, 2]))
def test_rules_equal_exact_brute_force(baskets: list[list[str]], min_count: int, conf: float, lift: float) -> None:
    sets = [set(b) for b in baskets]
    n = len(sets)
    expected = set()
    for k in (2, 3):
        for items in itertools.combinations(sorted(set().union(*sets)), k):
            both = _count(sets, items)
            if both < min_count:
                continue
            for c in items:
                a = tuple(i for i in items if i != c)
                ante, cons = _count(sets, a), _count(sets, (c,))
                if Fraction(both, ante) >= Fraction(str(conf)) and \
                        Fraction(both * n, ante * cons) >= Fraction(str(lift)):
                    expected.add((a, (c,), ante, cons, both))
    rules = mine(baskets_from_lists(baskets), MiningParams(min_support=min_count, min_confidence=conf,
                                                           min_lift=lift, max_len=3)).rules
    got = set(zip(rules["antecedent"], rules["consequent"], rules["antecedent_count"], rules["consequent_count"],
                  rules["both_count"], strict=True))
    assert got == expected
    assert all(math.isnan(v) for v in rules.loc[rules["confidence"] == 1, "conviction"])
