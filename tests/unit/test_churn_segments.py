"""Segment boundaries: RFM quintiles and ties, ABC bands, pyramid, credit grade, lifecycle rules."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from transforms.segments import (
    NO_PAYMENTS_REASON,
    WIN_BACK_ACTION,
    abc_class,
    credit_grade,
    lifecycle_stage,
    parse_rfm_rules,
    pyramid,
    recommended_action,
    rfm,
)
from warehouse.foundation.settings import ChurnSettings

D = dt.date(2025, 1, 1)
RULES = ChurnSettings().rfm_segment_rules


def frame(**cols) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    return pl.DataFrame({"customer_id": [f"c{i:02d}" for i in range(n)], "as_of": [D] * n, **cols})


def test_rfm_quintiles_on_ten_distinct_values() -> None:
    f = frame(recency_days=list(range(10, 0, -1)), orders_365d=list(range(1, 11)),
              monetary_365d=[float(x) for x in range(1, 11)])
    out = rfm(f, RULES)
    # mid ranks 1..10 -> 1 + floor(5 * (r - 0.5) / 10): 1,1,2,2,3,3,4,4,5,5
    assert out["f_score"].to_list() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert out["m_score"].to_list() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert out["r_score"].to_list() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]  # smaller recency is better
    assert out["rfm_segment"].to_list()[-1] == "Champions" and out["rfm_segment"].to_list()[0] == "Lost"


def test_rfm_ties_share_a_score() -> None:
    f = frame(recency_days=[5, 5, 5, 1, 9, 9], orders_365d=[2, 2, 7, 7, 7, 1],
              monetary_365d=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    out = rfm(f, RULES)
    r = out["r_score"].to_list()
    assert r[0] == r[1] == r[2] and r[4] == r[5]
    assert r[3] > r[0] > r[4]
    f_scores = out["f_score"].to_list()
    assert f_scores[2] == f_scores[3] == f_scores[4] and f_scores[0] == f_scores[1]
    assert set(out["m_score"].to_list()) == {3}


def test_rfm_single_customer_and_all_equal_score_three() -> None:
    single = rfm(frame(recency_days=[3], orders_365d=[1], monetary_365d=[5.0]), RULES)
    assert single.select("r_score", "f_score", "m_score").row(0) == (3, 3, 3)
    equal = rfm(frame(recency_days=[4] * 7, orders_365d=[2] * 7, monetary_365d=[9.0] * 7), RULES)
    assert set(equal["rfm_code"].to_list()) == {"333"}
    assert set(equal["rfm_segment"].to_list()) == {"Potential Loyalist"}


def test_rfm_is_per_as_of_date() -> None:
    f = pl.concat([frame(recency_days=[1, 2], orders_365d=[1, 2], monetary_365d=[1.0, 2.0]),
                   frame(recency_days=[1], orders_365d=[1], monetary_365d=[1.0]).with_columns(
                       pl.lit(dt.date(2025, 2, 1)).alias("as_of"))])
    out = rfm(f, RULES)
    assert out.filter(pl.col("as_of") == dt.date(2025, 2, 1))["f_score"].to_list() == [3]


def test_rfm_rules_cover_every_combination_and_reject_gaps() -> None:
    assert len(parse_rfm_rules(RULES)) == 8
    with pytest.raises(ValueError, match="without a segment"):
        parse_rfm_rules(("Champions:4-5,4-5,4-5",))
    with pytest.raises(ValueError, match="bad RFM segment rule"):
        parse_rfm_rules(("Champions:4-6,1-5,1-5",))


def test_abc_bands_boundaries() -> None:
    # 50, 30, 10, 5, 5 of 100: shares before 0, .5, .8, .9, .95
    f = frame(value=[5.0, 50.0, 10.0, 30.0, 5.0])
    out = abc_class(f, "value", (0.8, 0.9)).sort("value", "customer_id", descending=[True, False])
    assert out["abc_class"].to_list() == ["A", "A", "B", "C", "C"]
    assert out["revenue_share_before"].to_list() == pytest.approx([0, 0.5, 0.8, 0.9, 0.95])


def test_abc_ties_zero_and_single() -> None:
    ties = abc_class(frame(value=[10.0, 10.0, 10.0, 10.0, 0.0]), "value", (0.8, 0.9))
    # tie order by customer_id: c00..c03 shares before 0, .25, .5, .75 -> all A; zero revenue -> C
    assert ties["abc_class"].to_list() == ["A", "A", "A", "A", "C"]
    assert abc_class(frame(value=[7.0]), "value", (0.8, 0.9))["abc_class"].to_list() == ["A"]
    assert abc_class(frame(value=[0.0, -3.0]), "value", (0.8, 0.9))["abc_class"].to_list() == ["C", "C"]
    with pytest.raises(ValueError):
        abc_class(frame(value=[1.0]), "value", (0.9, 0.8))


def test_pyramid_quadrants_and_equal_customers() -> None:
    f = frame(value=[100.0, 100.0, 1.0, 1.0], potential=[0.9, 0.1, 0.9, 0.1])
    out = pyramid(f, "value", "potential", 0.5, 0.5)
    assert out["pyramid_tier"].to_list() == ["platinum (IV)", "gold (III)", "iron (II)", "lead (I)"]
    assert out["pyramid_action"].to_list() == ["develop first", "retain and build loyalty",
                                               "develop potential", "standard service"]
    equal = pyramid(frame(value=[5.0] * 3, potential=[0.5] * 3), "value", "potential", 0.5, 0.5)
    assert set(equal["pyramid_tier"].to_list()) == {"platinum (IV)"}


def test_credit_grade_cut_offs_and_missing_payments() -> None:
    f = frame(payments_due_365d=[10, 10, 10, 10, 0],
              overdue_share_365d=[0.05, 0.2, 0.5, 0.51, None],
              mean_days_late_365d=[3.0, 15.0, 45.0, 1.0, None])
    out = credit_grade(f, (0.05, 0.2, 0.5), (3.0, 15.0, 45.0))
    assert out["credit_grade"].to_list() == ["A", "B", "C", "D", None]
    assert out["credit_grade_reason"].to_list()[-1] == NO_PAYMENTS_REASON
    late = credit_grade(frame(payments_due_365d=[4], overdue_share_365d=[0.0], mean_days_late_365d=[50.0]),
                        (0.05, 0.2, 0.5), (3.0, 15.0, 45.0))
    assert late["credit_grade"].to_list() == ["D"]


def test_lifecycle_rules() -> None:
    cs = ChurnSettings()
    f = frame(
        is_active=[True, True, True, True, True, False],
        tenure_days=[30, 200, 800, 800, 800, 800],
        orders_total=[5, 5, 20, 20, 20, 20],
        orders_180d=[5, 2, 4, 0, 3, 0],
        # own earlier rate x 180 days: None without enough earlier history
        orders_expected_180d=[None, 1.0, 4.5, 4.5, 4.0, 4.5],
    )
    out = lifecycle_stage(f, decline_p_value=cs.decline_p_value, exploration_tenure_days=cs.exploration_tenure_days,
                          exploration_max_orders=cs.exploration_max_orders,
                          formation_tenure_days=cs.formation_tenure_days)
    # 0 orders where 4.5 were usual: P(Poisson(4.5) <= 0) = 1.1% < 5% -> decline; 3 of 4 is ordinary -> stability
    assert out["lifecycle_stage"].to_list() == ["exploration", "formation", "stability", "decline", "stability",
                                                "decline"]


def test_lifecycle_decline_is_relative_to_own_history() -> None:
    cs = ChurnSettings()
    # the same 1 order in 180 days: ordinary for a customer who buys twice a year, a decline for a monthly buyer
    f = frame(is_active=[True, True], tenure_days=[900, 900], orders_total=[6, 40], orders_180d=[1, 1],
              orders_expected_180d=[1.0, 8.0])
    out = lifecycle_stage(f, decline_p_value=cs.decline_p_value, exploration_tenure_days=cs.exploration_tenure_days,
                          exploration_max_orders=cs.exploration_max_orders,
                          formation_tenure_days=cs.formation_tenure_days)
    assert out["lifecycle_stage"].to_list() == ["stability", "decline"]


def test_credit_grades_follow_lateness() -> None:
    cs = ChurnSettings()
    late = [0.0, 0.5, 8.0, 20.0, 60.0]
    f = frame(payments_due_365d=[10] * 5, overdue_share_365d=[0.0, 0.1, 1.0, 1.0, 1.0], mean_days_late_365d=late)
    grades = credit_grade(f, tuple(cs.credit_max_overdue_share), tuple(cs.credit_max_mean_days_late))["credit_grade"]
    assert grades.to_list() == ["A", "A", "B", "C", "D"]  # every grade used, in order of lateness


def test_recommended_action() -> None:
    assert recommended_action("high", "gold (III)", "retain and build loyalty", True).startswith("rep calls")
    assert recommended_action("high", "lead (I)", "standard service", True).startswith("send the retention")
    assert recommended_action("low", "iron (II)", "develop potential", True) == "develop potential"
    assert recommended_action("low", "iron (II)", "develop potential", False) == WIN_BACK_ACTION
