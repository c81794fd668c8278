"""The hybrid recommender's parts on hand-made histories: sequences, exclusions, the popularity fill,
the per-product cap, and the backtest's metrics and bootstrap intervals worked out by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from transforms import recommender as rec
from transforms.evaluation import bootstrap_ci, ranking_metrics
from warehouse.analytics.recommender import params_from
from warehouse.foundation.settings import Settings

END = np.datetime64("2025-06-01T00:00:00", "us")


def _params(**changes) -> rec.RecommenderParams:
    """The product's defaults (settings.recommender) with the test's changes."""
    return dataclasses.replace(params_from(Settings()), **changes)


def _purchases(rows: list[tuple[str, str, str, str]]) -> rec.Purchases:
    """(customer, order, date, product) rows."""
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_ts", "product_id"])
    return rec.Purchases.from_frame(frame)


def test_sequence_signal_finds_b_after_a_and_not_the_reverse() -> None:
    rows = []
    for c in range(6):  # six customers buy A, then B on their next order 20 days later
        rows += [(f"c{c}", f"o{c}a", "2025-01-05", "A"), (f"c{c}", f"o{c}b", "2025-01-25", "B")]
    for c in range(6, 9):  # three buy A and come back much later with B (outside 90 days)
        rows += [(f"c{c}", f"o{c}a", "2025-01-05", "A"), (f"c{c}", f"o{c}b", "2025-05-25", "B")]
    for c in range(9, 15):  # others buy C twice
        rows += [(f"c{c}", f"o{c}a", "2025-01-05", "C"), (f"c{c}", f"o{c}b", "2025-02-05", "C")]
    items = np.array(["A", "B", "C"], dtype=object)
    seq = rec.sequence_matrix(_purchases(rows), items, days=90, min_customers=3, min_lift=1.5).toarray()
    # orders with A that have a next order within 90 days: 6, all of them followed by B
    assert seq[0, 1] == pytest.approx(1.0)
    assert seq[1, 0] == 0 and seq[0, 2] == 0 and seq[2, 2] == 0  # no B -> A, no A -> C, no self pairs


def _audience_and_signals(returned: list[tuple[str, str]] | None = None):
    rows = []
    # a bundle-like pair X + Y bought by the same customers; Z is popular; W is bought by one customer
    for c in range(8):
        rows += [(f"c{c}", f"o{c}", "2025-03-01", "X"), (f"c{c}", f"o{c}", "2025-03-01", "Y")]
    for c in range(8, 20):
        rows += [(f"c{c}", f"p{c}", "2025-04-01", "Z")]
    rows += [("c20", "q20", "2025-04-02", "X"), ("c21", "q21", "2025-04-02", "W")]
    history = _purchases(rows)
    items = np.array(["W", "X", "Y", "Z"], dtype=object)
    params = _params(offers=2, min_co_customers=2, candidates=4, max_product_share=0.0)
    signals = rec.fit_signals(history, pd.DataFrame(columns=["antecedent", "consequent", "confidence", "rule_id"]),
                              params, items)
    ret = pd.DataFrame(returned or [], columns=["customer_id", "product_id"])
    audience = rec.build_audience(history, ret, pd.Series(dtype=object), items, END, 90, 50)
    return signals, audience, params


def _offers(signals, audience, params) -> dict[str, list[str]]:
    blend = rec.Blend(None, dict(zip(rec.SOURCES, params.fixed_weights, strict=True)), 0, 0)
    offers = rec.recommend(signals, audience, blend, params)
    out: dict[str, list[str]] = {}
    for row, item, _rank in sorted(zip(offers["row"], offers["item"], offers["rank"], strict=True),
                                  key=lambda t: (t[0], t[2])):
        out.setdefault(str(audience.customers[row]), []).append(str(signals.items[item]))
    return out


def test_every_active_customer_gets_n_offers_and_never_what_they_bought_or_returned() -> None:
    signals, audience, params = _audience_and_signals(returned=[("c20", "Y")])
    offers = _offers(signals, audience, params)
    assert set(offers) == set(audience.customers)  # everyone who bought in the look-back
    assert all(len(v) == params.offers for v in offers.values())
    bought = {("c20", "X"), ("c21", "W")} | {(f"c{c}", p) for c in range(8) for p in "XY"} | \
        {(f"c{c}", "Z") for c in range(8, 20)}
    assert not [(c, p) for c, items in offers.items() for p in items if (c, p) in bought]
    # c20 bought X and returned Y: the co-purchase partner of X is not offered, the rest is
    assert "Y" not in offers["c20"] and offers["c20"] == ["Z", "W"]
    # c21 has no co-purchase signal at all (W goes with nothing): popularity fills: Z first
    assert offers["c21"][0] == "Z"


def test_co_purchase_partner_is_offered_first_when_nothing_is_excluded() -> None:
    signals, audience, params = _audience_and_signals()
    offers = _offers(signals, audience, params)
    assert offers["c20"][0] == "Y"


def test_the_per_product_cap_spreads_offers_and_short_customers_still_get_n() -> None:
    cand = pd.DataFrame({"row": [0, 0, 1, 1, 2, 2], "item": [0, 1, 0, 1, 0, 1]})
    score = np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3])
    params = _params(offers=1, max_product_share=0.3)  # room: ceil(0.3 * 3 * 1) = 1 per product
    chosen = rec.select_offers(cand, score, 3, params)
    got = dict(zip(chosen["row"], chosen["item"], strict=True))
    # round 1: everyone wants item 0, the highest score (row 0) gets it; round 2: rows 1 and 2 want item 1,
    # row 2 scores it higher; row 1 finds both full and takes its best regardless of the cap
    assert got == {0: 0, 1: 0, 2: 1}
    assert rec.select_offers(cand, score, 3, _params(offers=1, max_product_share=0.0))[
        "item"].tolist() == [0, 0, 0]


def test_ranking_metrics_on_a_hand_computed_example() -> None:
    recommended = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    relevant = [{2, 10}, {11}, {7, 8, 9, 12}]
    m = ranking_metrics(recommended, relevant, k=3)
    assert m["hit"].tolist() == [1.0, 0.0, 1.0]  # hit rate@3 = 2/3
    assert m["precision"].tolist() == pytest.approx([1 / 3, 0.0, 1.0])
    assert m["recall"].tolist() == pytest.approx([1 / 2, 0.0, 3 / 4])
    # only the first k count
    assert ranking_metrics([[1, 2]], [{2}], k=1)["hit"].tolist() == [0.0]


def test_bootstrap_interval_brackets_the_mean_and_is_paired() -> None:
    hits = np.array([1.0] * 30 + [0.0] * 70)
    low, high = bootstrap_ci([hits], np.mean, 2000, seed=1)
    assert low < 0.3 < high and high - low == pytest.approx(2 * 1.96 * np.sqrt(0.3 * 0.7 / 100), abs=0.04)
    # a baseline identical to the model: the paired ratio has no spread at all
    assert bootstrap_ci([hits, hits], lambda a, b: a.mean() / b.mean(), 200, seed=1) == (1.0, 1.0)
    assert all(np.isnan(v) for v in bootstrap_ci([np.array([])], np.mean, 10))


def test_offers_name_the_evidence_behind_them() -> None:
    signals, audience, params = _audience_and_signals()
    blend = rec.Blend(None, dict(zip(rec.SOURCES, params.fixed_weights, strict=True)), 0, 0)
    offers = rec.recommend(signals, audience, blend, params)
    row = int(np.nonzero(audience.customers == "c20")[0][0])
    first = offers[(offers["row"] == row) & (offers["rank"] == 1)].iloc[0]
    items = list(signals.items)
    # c20 holds X only: Y is offered for its co-purchase with X, and X is the product named
    assert items[int(first["item"])] == "Y" and rec.SOURCES[int(first["source"])] == "co_purchase"
    assert items[int(first["item_arg"])] == "X" and first["rule_arg"] == -1 and first["seq_arg"] == -1
    # ties go to the smaller held product: two held products equally similar to the candidate
    x = rec.sp.csr_matrix(np.array([[1, 1, 0]], dtype=np.float32))
    m = rec.sp.csr_matrix(np.array([[0, 0, 0.5], [0, 0, 0.5], [0, 0, 0]], dtype=np.float32))
    assert rec._pair_argmax(x, m, np.array([0, 0]), np.array([2, 0])).tolist() == [0, -1]


def test_blend_fitted_on_a_sample_keeps_its_probabilities_calibrated() -> None:
    rng = np.random.default_rng(3)
    n = 40_000
    frame = pd.DataFrame({name: rng.random(n) for name in rec.FEATURES})
    p_true = 0.02 + 0.4 * frame["co_purchase"].to_numpy() ** 2
    labels = rng.random(n) < p_true
    params = _params(fit_max_rows=4_000, fit_positive_share=0.25, blend_max_iter=50)
    blend = rec.fit_blend(frame, labels, params)
    assert blend.fitted and blend.fitted_rows <= params.fit_max_rows * 1.1
    # both classes were sampled (positives beyond a quarter of the rows), and the odds corrected for it
    assert blend.sample_rate < 1.0
    pred = blend.predict(frame)
    assert pred.mean() == pytest.approx(labels.mean(), rel=0.15)
    top = pred >= np.quantile(pred, 0.9)
    assert labels[top].mean() > 2 * labels.mean()
