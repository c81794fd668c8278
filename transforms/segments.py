"""Customer segmentations on feature frames (polars): RFM, ABC, pyramid, credit grade, lifecycle.

Every function works per as-of date (``as_of`` column) and is deterministic: ties share a score or
class, and orderings break remaining ties by ``customer_id``. Cut-offs come from
``settings.ChurnSettings`` (passed in by the caller); the names and actions below are vocabulary.

RFM score (1-5) of a value among n customers of the same as-of date, from its average ("mid") rank
r in ascending order of goodness: ``score = 1 + floor(5 * (r - 0.5) / n)``. Equal values get the
same score; all customers equal (or a single customer) score 3; n distinct values split into
quintiles. Recency is better when smaller; frequency and monetary
when larger. F and M read the last 365 days (``orders_365d``, ``monetary_365d``), the same windows
as the churn reasons, so a reason never contradicts the customer's own scores. Named segments: the first rule of ``settings.churn.rfm_segment_rules`` whose R, F and M
ranges contain the scores (the rules cover every combination).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.special import pdtr

PYRAMID_TIERS: dict[tuple[bool, bool], tuple[str, str]] = {
    # (high value, high potential) -> (tier, suggested action)
    (True, True): ("platinum (IV)", "develop first"),
    (True, False): ("gold (III)", "retain and build loyalty"),
    (False, True): ("iron (II)", "develop potential"),
    (False, False): ("lead (I)", "standard service"),
}
CREDIT_GRADES: tuple[str, ...] = ("A", "B", "C", "D")
NO_PAYMENTS_REASON = "no payments fell due in the 365 days before the as-of date (no repayment history to grade)"
LIFECYCLE_STAGES: tuple[str, ...] = ("exploration", "formation", "stability", "decline")


@dataclass(frozen=True)
class RfmRule:
    name: str
    r: tuple[int, int]
    f: tuple[int, int]
    m: tuple[int, int]

    def matches(self, r: int, f: int, m: int) -> bool:
        return self.r[0] <= r <= self.r[1] and self.f[0] <= f <= self.f[1] and self.m[0] <= m <= self.m[1]


def parse_rfm_rules(rules: tuple[str, ...] | list[str]) -> list[RfmRule]:
    """Parse ``"Name:Rlo-Rhi,Flo-Fhi,Mlo-Mhi"`` rules; raise ValueError naming a bad rule."""
    parsed: list[RfmRule] = []
    for text in rules:
        try:
            name, ranges = text.rsplit(":", 1)
            bounds = []
            for part in ranges.split(","):
                lo, hi = (int(x) for x in part.split("-"))
                if not 1 <= lo <= hi <= 5:
                    raise ValueError
                bounds.append((lo, hi))
            r, f, m = bounds
        except ValueError:
            raise ValueError(f"bad RFM segment rule {text!r}: expected 'Name:Rlo-Rhi,Flo-Fhi,Mlo-Mhi' "
                             "with scores 1-5") from None
        parsed.append(RfmRule(name.strip(), r, f, m))
    uncovered = [(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)
                 if not any(rule.matches(r, f, m) for rule in parsed)]
    if uncovered:
        raise ValueError(f"RFM segment rules leave {len(uncovered)} score combinations without a segment, "
                         f"e.g. R={uncovered[0][0]} F={uncovered[0][1]} M={uncovered[0][2]}")
    return parsed


def quintile_score(col: str, *, higher_is_better: bool = True, by: str = "as_of") -> pl.Expr:
    """1-5 score from the mid rank within ``by``: ``1 + floor(5 * (rank - 0.5) / n)``."""
    value = pl.col(col) if higher_is_better else -pl.col(col)
    rank = value.rank("average").over(by)
    n = pl.len().over(by)
    return (1 + ((rank - 0.5) * 5 / n).floor()).clip(1, 5).cast(pl.Int8)


RFM_COLUMNS: dict[str, str] = {"r": "recency_days", "f": "orders_365d", "m": "monetary_365d"}


def rfm(frame: pl.DataFrame, rules: tuple[str, ...] | list[str]) -> pl.DataFrame:
    """Add r_score, f_score, m_score, rfm_code ('545') and rfm_segment (columns: ``RFM_COLUMNS``)."""
    parsed = parse_rfm_rules(rules)
    scored = frame.with_columns(
        quintile_score(RFM_COLUMNS["r"], higher_is_better=False).alias("r_score"),
        quintile_score(RFM_COLUMNS["f"]).alias("f_score"),
        quintile_score(RFM_COLUMNS["m"]).alias("m_score"),
    )
    segment = pl.lit(None, dtype=pl.String)
    for rule in reversed(parsed):  # first rule wins: build the chain from the last
        cond = (pl.col("r_score").is_between(*rule.r) & pl.col("f_score").is_between(*rule.f)
                & pl.col("m_score").is_between(*rule.m))
        segment = pl.when(cond).then(pl.lit(rule.name)).otherwise(segment)
    return scored.with_columns(
        pl.concat_str([pl.col("r_score"), pl.col("f_score"), pl.col("m_score")]).alias("rfm_code"),
        segment.alias("rfm_segment"),
    )


def abc_class(frame: pl.DataFrame, value_col: str, bands: tuple[float, float]) -> pl.DataFrame:
    """Add revenue_share_before and abc_class (rows come back ordered by as_of, value desc, customer_id).

    Customers sorted by value (descending, then customer_id) within each as-of date; a customer's
    class comes from the cumulative share of positive value held by the customers ranked before it:
    below bands[0] -> A (the customers making the first 80%), below bands[1] -> B, else C. Customers
    with no positive value are C.
    """
    a_cut, b_cut = bands
    if not 0 < a_cut <= b_cut <= 1:
        raise ValueError(f"ABC bands must satisfy 0 < A <= B <= 1, got {bands}")
    pos = pl.col(value_col).fill_null(0).clip(0, None)
    ordered = frame.sort(["as_of", value_col, "customer_id"], descending=[False, True, False], nulls_last=True)
    total = pos.sum().over("as_of")
    before = (pos.cum_sum().over("as_of") - pos)
    share_before = pl.when(total > 0).then(before / total).otherwise(1.0)
    return ordered.with_columns(share_before.alias("revenue_share_before")).with_columns(
        pl.when(pos <= 0).then(pl.lit("C"))
        .when(pl.col("revenue_share_before") < a_cut).then(pl.lit("A"))
        .when(pl.col("revenue_share_before") < b_cut).then(pl.lit("B"))
        .otherwise(pl.lit("C")).alias("abc_class")
    )


def pyramid(frame: pl.DataFrame, value_col: str, potential_col: str,
            value_quantile: float, potential_quantile: float) -> pl.DataFrame:
    """Add pyramid_tier and pyramid_action.

    High value: value at or above the ``value_quantile`` quantile of the as-of date's customers (and
    above 0); high potential: potential at or above the ``potential_quantile`` quantile (linear
    interpolation). A single customer or all-equal customers are therefore all "high".
    """
    v_cut = pl.col(value_col).quantile(value_quantile, "linear").over("as_of")
    p_cut = pl.col(potential_col).quantile(potential_quantile, "linear").over("as_of")
    high_v = (pl.col(value_col) >= v_cut) & (pl.col(value_col) > 0)
    high_p = (pl.col(potential_col) >= p_cut).fill_null(False)
    tier = pl.lit(None, dtype=pl.String)
    action = pl.lit(None, dtype=pl.String)
    for (hv, hp), (name, act) in PYRAMID_TIERS.items():
        cond = (high_v.fill_null(False) == hv) & (high_p == hp)
        tier = pl.when(cond).then(pl.lit(name)).otherwise(tier)
        action = pl.when(cond).then(pl.lit(act)).otherwise(action)
    return frame.with_columns(tier.alias("pyramid_tier"), action.alias("pyramid_action"))


def credit_grade(frame: pl.DataFrame, max_overdue_share: tuple[float, float, float],
                 max_mean_days_late: tuple[float, float, float]) -> pl.DataFrame:
    """Add credit_grade (A-D) and credit_grade_reason from payments due in the last 365 days.

    Grade A, B or C for the first grade whose overdue-share and mean-days-late cut-offs both hold;
    D otherwise. No payment due in the window: grade NULL, reason says so.
    """
    has = pl.col("payments_due_365d") > 0
    share = pl.col("overdue_share_365d").fill_null(0)
    late = pl.col("mean_days_late_365d").fill_null(0)
    grade = pl.lit("D")
    for g, s_cut, d_cut in reversed(list(zip(CREDIT_GRADES[:3], max_overdue_share, max_mean_days_late,
                                             strict=True))):
        grade = pl.when((share <= s_cut) & (late <= d_cut)).then(pl.lit(g)).otherwise(grade)
    reason = pl.format("{}% of {} payments late, {} days late on average",
                       (share * 100).round(0).cast(pl.Int64), pl.col("payments_due_365d"),
                       late.round(1))
    return frame.with_columns(
        pl.when(has).then(grade).otherwise(None).alias("credit_grade"),
        pl.when(has).then(reason).otherwise(pl.lit(NO_PAYMENTS_REASON)).alias("credit_grade_reason"),
    )


def lifecycle_stage(frame: pl.DataFrame, *, decline_p_value: float, exploration_tenure_days: int,
                    exploration_max_orders: int, formation_tenure_days: int) -> pl.DataFrame:
    """Add lifecycle_stage from each customer's own history (needs ``is_active``, ``orders_180d``,
    ``orders_expected_180d`` from ``transforms.churn_model.add_derived_features``).

    decline (from any stage): lapsed (not active), or the orders of the last 180 days are improbably
    few at the customer's own earlier rate: P(Poisson(expected) <= orders_180d) < decline_p_value;
    else exploration: tenure_days < exploration_tenure_days or orders_total < exploration_max_orders;
    else formation: tenure_days < formation_tenure_days;
    else stability.
    """
    expected = frame["orders_expected_180d"].cast(pl.Float64).fill_null(0.0).to_numpy()
    observed = frame["orders_180d"].cast(pl.Float64).fill_null(0.0).to_numpy()
    p_low = pdtr(observed, np.maximum(expected, 1e-12))  # Poisson CDF: P(X <= observed | mean expected)
    has_history = frame["orders_expected_180d"].is_not_null().to_numpy()
    falling = pl.Series("_falling", has_history & (p_low < decline_p_value) & (expected > observed))
    decline = (~pl.col("is_active").fill_null(False)) | falling
    stage = (
        pl.when(decline).then(pl.lit("decline"))
        .when((pl.col("tenure_days") < exploration_tenure_days)
              | (pl.col("orders_total") < exploration_max_orders)).then(pl.lit("exploration"))
        .when(pl.col("tenure_days") < formation_tenure_days).then(pl.lit("formation"))
        .otherwise(pl.lit("stability"))
    )
    return frame.with_columns(stage.alias("lifecycle_stage"))


WIN_BACK_ACTION = "win-back campaign: win-back offer by email / WeChat (lapsed: silent longer than the churn horizon)"


def recommended_action(risk_band: str | None, pyramid_tier: str | None, pyramid_action: str | None,
                       is_active: bool) -> str:
    """What to do with a customer, from the risk band and the pyramid tier (documented in docs/churn.md)."""
    valuable = pyramid_tier in (PYRAMID_TIERS[(True, True)][0], PYRAMID_TIERS[(True, False)][0])
    if not is_active:
        return WIN_BACK_ACTION
    if risk_band == "high":
        return "rep calls within 7 days with a personal retention offer" if valuable \
            else "send the retention offer now (email / WeChat)"
    if risk_band == "medium":
        return "care message this week, retention offer on next contact"
    return pyramid_action or "standard service"
