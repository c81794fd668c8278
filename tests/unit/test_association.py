"""Association rules: hand-computed metrics, exact inclusive thresholds, sparse encoding, parity with mlxtend."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats

from transforms.association import (
    MiningParameterError,
    MiningParams,
    frequent_itemsets,
    mine,
    pair_affinity,
    sparse_frame,
    support_count,
)
from transforms.baskets import baskets_from_lists
from transforms.synthetic_baskets import synthesize_baskets

HAND = [
    ["A", "B", "C"], ["A", "B"], ["A", "C"], ["B", "C"], ["A", "B", "C", "D"],
    ["D"], ["A", "B"], ["C"], ["A", "B", "D"], ["B"],
]


def _rule(rules: pd.DataFrame, antecedent: tuple[str, ...], consequent: tuple[str, ...]) -> pd.Series:
    hit = rules[(rules["antecedent"] == antecedent) & (rules["consequent"] == consequent)]
    assert len(hit) == 1, f"rule {antecedent} -> {consequent} not found once"
    return hit.iloc[0]


def _hyper_upper_tail(n: int, ante: int, cons: int, both: int) -> Fraction:
    """P(X >= both) for X ~ Hypergeometric(population n, cons successes, ante draws), by hand."""
    total = math.comb(n, ante)
    hits = sum(math.comb(cons, k) * math.comb(n - cons, ante - k) for k in range(both, min(ante, cons) + 1))
    return Fraction(hits, total)


def _count(baskets: list[list[str]], items: tuple[str, ...]) -> int:
    return sum(1 for b in baskets if set(items) <= set(b))


def test_hand_computed_example_every_metric() -> None:
    result = mine(baskets_from_lists(HAND), MiningParams(min_support=2, min_confidence=0.0, min_lift=0.0, max_len=3))
    rules = result.rules
    r = _rule(rules, ("A",), ("B",))
    # counts by hand: A in 6 baskets, B in 7, both in 5, of 10
    assert (r.antecedent_count, r.consequent_count, r.both_count, r.n_baskets) == (6, 7, 5, 10)
    assert r.support == pytest.approx(0.5, abs=1e-15)
    assert r.confidence == pytest.approx(5 / 6, abs=1e-15)
    assert r.lift == pytest.approx((5 / 6) / 0.7, abs=1e-12)
    assert r.leverage == pytest.approx(0.5 - 0.6 * 0.7, abs=1e-15)
    assert r.conviction == pytest.approx((1 - 0.7) / (1 - 5 / 6), abs=1e-12)
    assert r.zhangs_metric == pytest.approx((0.5 - 0.42) / max(0.5 * (1 - 0.6), 0.6 * (0.7 - 0.5)), abs=1e-12)
    assert r.jaccard == pytest.approx(5 / 8, abs=1e-15)
    assert r.fisher_p == pytest.approx(float(_hyper_upper_tail(10, 6, 7, 5)), rel=1e-9)
    assert float(_hyper_upper_tail(10, 6, 7, 5)) == pytest.approx(1 / 3)
    assert r.fisher_p == pytest.approx(stats.fisher_exact([[5, 1], [2, 2]], alternative="greater").pvalue, rel=1e-9)
    assert not r.is_redundant

    # confidence 1: conviction is infinite, stored as NaN (NULL)
    r = _rule(rules, ("A", "D"), ("B",))
    assert (r.antecedent_count, r.both_count) == (2, 2)
    assert r.confidence == 1.0
    assert math.isnan(r.conviction)

    # A,C -> B (2/3) is redundant: A -> B has 5/6 >= 2/3
    assert _rule(rules, ("A", "C"), ("B",)).is_redundant
    # A,B -> D (2/5) is not: A -> D is 2/6, B -> D is 2/7
    assert not _rule(rules, ("A", "B"), ("D",)).is_redundant

    # every candidate rule of frequent itemsets (count >= 2) with a single consequent is there
    frequent = [s for k in (2, 3) for s in itertools.combinations("ABCD", k) if _count(HAND, s) >= 2]
    expected = {(tuple(x for x in s if x != c), (c,)) for s in frequent for c in s}
    assert set(zip(rules["antecedent"], rules["consequent"], strict=True)) == expected

    # Benjamini-Hochberg by hand over the whole family
    ps = []
    for a, c in zip(rules["antecedent"], rules["consequent"], strict=True):
        ps.append(float(_hyper_upper_tail(10, _count(HAND, a), _count(HAND, c), _count(HAND, a + c))))
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, ps[i] * m / rank)
        q[i] = running
    assert rules["fisher_q"].to_numpy() == pytest.approx(q, rel=1e-9)
    assert (rules["is_significant"] == (rules["fisher_q"] <= 0.05)).all()


def test_support_fraction_and_count_edges() -> None:
    baskets = [["X", "Y"]] * 7 + [["Z"]] * 93  # {X, Y} in exactly 7 of 100 baskets
    b = baskets_from_lists(baskets)
    assert math.ceil(0.07 * 100) == 8  # the float pitfall this guards against
    assert support_count(0.07, 100) == 7
    for min_support in (0.07, 7):
        items = frequent_itemsets(b, support_count(min_support, 100), 2)
        assert ("X", "Y") in set(items["itemset"]), min_support
    for min_support in (0.0700001, 8):
        items = frequent_itemsets(b, support_count(min_support, 100), 2)
        assert ("X", "Y") not in set(items["itemset"]), min_support


@pytest.mark.parametrize("counter", ["mlxtend", "sparse"])
def test_confidence_exactly_at_threshold_is_kept(counter: str) -> None:
    # A in 10 baskets, A and B in 8 of them: confidence 8/10 against 0.8
    baskets = [["A", "B"]] * 8 + [["A"]] * 2 + [["B"]] * 5 + [["C"]] * 5
    b = baskets_from_lists(baskets)
    keep = mine(b, MiningParams(min_support=1, min_lift=0.0, min_confidence=0.8, counter=counter)).rules
    assert (("A",), ("B",)) in set(zip(keep["antecedent"], keep["consequent"], strict=True))
    drop = mine(b, MiningParams(min_support=1, min_lift=0.0, min_confidence=0.8000001, counter=counter)).rules
    assert (("A",), ("B",)) not in set(zip(drop["antecedent"], drop["consequent"], strict=True))


def test_confidence_lost_to_float_rounding_is_kept() -> None:
    # 3 of 4 baskets; mlxtend-style (3/10) / (4/10) is 0.7499999999999999 < 0.75
    assert (3 / 10) / (4 / 10) < 0.75
    baskets = [["A", "B"]] * 3 + [["A"]] + [["B"]] * 2 + [["C"]] * 4
    rules = mine(baskets_from_lists(baskets), MiningParams(min_support=1, min_lift=0.0, min_confidence=0.75)).rules
    assert (("A",), ("B",)) in set(zip(rules["antecedent"], rules["consequent"], strict=True))


def test_lift_equal_to_min_lift_is_kept() -> None:
    # N = 10, A in 4, B in 5, both in 3: lift = 3 * 10 / (4 * 5) = 1.5
    baskets = [["A", "B"]] * 3 + [["A"]] + [["B"]] * 2 + [["C"]] * 4
    b = baskets_from_lists(baskets)
    kept = mine(b, MiningParams(min_support=1, min_confidence=0.0, min_lift=1.5)).rules
    assert (("A",), ("B",)) in set(zip(kept["antecedent"], kept["consequent"], strict=True))
    assert _rule(kept, ("A",), ("B",)).lift == pytest.approx(1.5)
    dropped = mine(b, MiningParams(min_support=1, min_confidence=0.0, min_lift=1.5000001)).rules
    assert (("A",), ("B",)) not in set(zip(dropped["antecedent"], dropped["consequent"], strict=True))


def test_max_len_and_max_consequent() -> None:
    b = baskets_from_lists(HAND)
    two = mine(b, MiningParams(min_support=2, min_confidence=0.0, min_lift=0.0, max_len=2)).rules
    assert (two["antecedent_len"] + two["consequent_len"]).max() == 2
    multi = mine(b, MiningParams(min_support=2, min_confidence=0.0, min_lift=0.0, max_len=3, max_consequent=2)).rules
    assert (multi["consequent_len"] == 2).any()
    r = _rule(multi, ("A",), ("B", "C"))
    assert (r.antecedent_count, r.consequent_count, r.both_count) == (6, 3, 2)


@pytest.mark.parametrize("bad", [0, -1, 0.0, 1.5, float("nan"), True])
def test_bad_support_is_a_clear_error(bad: object) -> None:
    with pytest.raises(MiningParameterError, match="min_support"):
        support_count(bad, 10)  # type: ignore[arg-type]


def test_bad_parameters_are_clear_errors() -> None:
    b = baskets_from_lists(HAND)
    with pytest.raises(MiningParameterError, match="min_confidence"):
        mine(b, MiningParams(min_support=2, min_lift=0.0, min_confidence=1.2))
    with pytest.raises(MiningParameterError, match="max_len"):
        mine(b, MiningParams(min_support=2, min_confidence=0.0, min_lift=0.0, max_len=0))


def test_encoding_is_sparse_never_dense(monkeypatch: pytest.MonkeyPatch) -> None:
    data = synthesize_baskets(500, n_products=40, seed=2).baskets
    frame = sparse_frame(data.matrix, [str(i) for i in range(data.n_items)])
    assert all(isinstance(dtype, pd.SparseDtype) for dtype in frame.dtypes)
    assert frame.sparse.density < 0.5

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a dense baskets x items matrix was built")

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse)
    items = frequent_itemsets(data, 10, 3, counter="sparse")
    assert len(items) > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_counter_equals_mlxtend_fpgrowth(seed: int) -> None:
    data = synthesize_baskets(1500, n_products=60, mean_size=4, n_bundles=4, seed=seed).baskets
    for min_count, max_len in ((8, 2), (8, 3), (15, None)):
        a = frequent_itemsets(data, min_count, max_len, counter="mlxtend")
        s = frequent_itemsets(data, min_count, max_len, counter="sparse")
        assert dict(zip(a["itemset"], a["count"], strict=True)) == dict(zip(s["itemset"], s["count"], strict=True))


def test_rules_match_mlxtend_association_rules() -> None:
    from mlxtend.frequent_patterns import association_rules as mlx_rules
    from mlxtend.frequent_patterns import fpgrowth

    data = synthesize_baskets(800, n_products=30, mean_size=4, n_bundles=3, seed=5).baskets
    n = data.n_baskets
    frame = sparse_frame(data.matrix, list(data.items))
    found = fpgrowth(frame, min_support=(20 - 0.5) / n, use_colnames=True, max_len=3)
    expected = mlx_rules(found, num_itemsets=n, metric="confidence", min_threshold=0.0)
    expected = expected[expected["consequents"].map(len) == 1]
    ours = mine(data, MiningParams(min_support=20, min_confidence=0.0, min_lift=0.0, max_len=3)).rules
    key = lambda a, c: (tuple(sorted(a)), tuple(sorted(c)))  # noqa: E731
    exp = {key(a, c): row for (a, c), row in zip(zip(expected["antecedents"], expected["consequents"], strict=True),
                                                  expected.itertuples(), strict=True)}
    got = {key(a, c): row for (a, c), row in zip(zip(ours["antecedent"], ours["consequent"], strict=True),
                                                 ours.itertuples(), strict=True)}
    assert set(exp) == set(got) and exp
    for k, e in exp.items():
        g = got[k]
        assert g.support == pytest.approx(e.support, rel=1e-12)
        assert g.confidence == pytest.approx(e.confidence, rel=1e-12)
        assert g.lift == pytest.approx(e.lift, rel=1e-12)
        assert g.leverage == pytest.approx(e.leverage, rel=1e-9, abs=1e-15)
        assert g.zhangs_metric == pytest.approx(e.zhangs_metric, rel=1e-9, abs=1e-12)
        assert g.jaccard == pytest.approx(e.jaccard, rel=1e-12)
        if np.isinf(e.conviction):
            assert np.isnan(g.conviction)
        else:
            assert g.conviction == pytest.approx(e.conviction, rel=1e-9)


def bundle_recovery(rules: pd.DataFrame, bundles: list[tuple[str, ...]]) -> dict[tuple[str, ...], int]:
    """Rank (by lift) of each bundle's best rule made of its own items, and of the first rule with no
    two items from one bundle under the key ``()``: recovered bundles rank above that one."""
    pairs = {frozenset(p) for b in bundles for p in itertools.combinations(b, 2)}
    ranked = rules.sort_values(["lift", "rule_id"], ascending=[False, True], ignore_index=True)
    items = [set(a) | set(c) for a, c in zip(ranked["antecedent"], ranked["consequent"], strict=True)]
    related = [any(frozenset(p) in pairs for p in itertools.combinations(sorted(i), 2)) for i in items]
    ranks: dict[tuple[str, ...], int] = {(): related.index(False) if False in related else len(items)}
    for bundle in bundles:
        ranks[bundle] = next((k for k, i in enumerate(items) if i <= set(bundle)), len(items))
    return ranks


def test_planted_bundles_are_recovered_among_top_rules() -> None:
    synth = synthesize_baskets(4000, n_products=300, mean_size=5, n_bundles=6, bundle_rate=0.2, seed=11)
    rules = mine(synth.baskets, MiningParams(min_support=0.005, min_lift=0.0, min_confidence=0.3, max_len=3)).rules
    ranks = bundle_recovery(rules, synth.bundles)
    for bundle in synth.bundles:
        assert ranks[bundle] < ranks[()], f"bundle {bundle} ranks below an unrelated rule"
        inside = rules[[set(a) | set(c) <= set(bundle) for a, c in zip(rules["antecedent"], rules["consequent"],
                                                                       strict=True)]]
        assert (inside["lift"] > 1).all() and inside["is_significant"].all()
    # and the check can fail: random baskets with no bundle planted recover nothing
    plain = synthesize_baskets(4000, n_products=300, mean_size=5, n_bundles=0, seed=11)
    fake = [("P00080", "P00127")]
    rules = mine(plain.baskets, MiningParams(min_support=0.005, min_lift=0.0, min_confidence=0.0, max_len=3)).rules
    ranks = bundle_recovery(rules, fake)
    assert ranks[fake[0]] >= ranks[()]


def test_pair_affinity_counts() -> None:
    pairs = pair_affinity(baskets_from_lists(HAND), min_count=2)
    ab = pairs[(pairs["item_a"] == "A") & (pairs["item_b"] == "B")].iloc[0]
    assert (ab.pair_count, ab.count_a, ab.count_b, ab.n_baskets) == (5, 6, 7, 10)
    assert ab.lift == pytest.approx(5 * 10 / (6 * 7))
    assert not ((pairs["item_a"] == "C") & (pairs["item_b"] == "D")).any()  # together once only


def test_rule_ids_are_stable_and_never_all_digits():
    from transforms.association import rule_id

    assert rule_id(["B", "A"], ["C"]) == rule_id(["A", "B"], ["C"])
    assert rule_id(["A"], ["C"]) != rule_id(["C"], ["A"])
    ids = [rule_id([f"P{i}"], [f"Q{i}"]) for i in range(5000)]
    assert not any(i.isdigit() for i in ids)


def test_a_scope_where_no_rule_passes_gives_text_rule_ids_not_floats() -> None:
    # frequent pairs exist, but no rule reaches a confidence of 1: the rule frame is empty
    baskets = [["A", "B"]] * 3 + [["A"]] * 3 + [["B"]] * 3
    rules = mine(baskets_from_lists(baskets), MiningParams(min_support=2, min_lift=0.0, min_confidence=1.0)).rules
    assert rules.empty
    assert rules["rule_id"].dtype == object
    assert (rules["rule_id"] + "|segment").tolist() == []  # what run_mining does to build its keys
