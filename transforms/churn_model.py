"""Churn risk model: a logistic dropout model with a purchase-rate correction, and plain-word reasons.

The observed label (no purchase in the horizon H) mixes two kinds of silent customers: those who
stopped buying (churn) and slow buyers who are still customers but happen not to buy in H days. So the
model is a two-part mixture: with ``p(x) = sigmoid(b . z(x))`` the probability that the customer has
stopped buying (the churn risk we publish) and ``q`` the probability that a customer who still buys
stays silent for H days by chance (from BG/NBD's purchase rate, ``transforms.churn_value``),

    P(no purchase in H) = p + (1 - p) * q.

``b`` is fitted by L2-penalized maximum likelihood (L-BFGS with the analytic gradient; deterministic,
rows sorted by (as_of, customer_id)). Without a rate correction (q = 0) it is a plain logistic regression.
Every feature has a declared direction (does more of it mean more risk?); a feature whose fitted
weight has the other sign is dropped and the model refitted, so signs are stable and every reason
reads true. Collinear measures of one thing are not both in the feature list (one resolution measure,
one lateness measure).

Reasons: each feature's contribution to a customer's log-odds is ``coefficient x standardized value``.
The three largest positive contributions, ties broken by feature order, are written in plain words
from the customer's raw values; a purchase reason is only given when the customer's own R, F or M
score agrees with it (the segments and the reasons read the same windows).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

# Model inputs, in a fixed order (the order also breaks ties between equal contributions), each with
# its declared direction: +1 = more of it means more churn risk, -1 = less of it means more risk.
FEATURE_DIRECTION: dict[str, int] = {
    "recency_days": 1,
    "recency_gap_ratio": 1,
    "orders_365d": -1,
    "monetary_365d": -1,
    "own_trend_180d": -1,
    "tenure_days": -1,
    "distinct_products": -1,
    "return_rate_365d": 1,
    "tickets_90d": 1,
    "complaints_90d": 1,
    "open_tickets": 1,
    "slow_resolutions_90d": 1,
    "sla_breaches_90d": 1,
    "low_satisfaction_90d": 1,
    "last_satisfaction": -1,
    "mean_days_late_365d": 1,
}
MODEL_FEATURES: tuple[str, ...] = tuple(FEATURE_DIRECTION)
# log1p before scaling (skewed counts, amounts and durations; negatives clipped to 0 first).
LOG_FEATURES = frozenset({
    "recency_days", "recency_gap_ratio", "tenure_days", "orders_365d", "monetary_365d", "distinct_products",
    "tickets_90d", "complaints_90d", "open_tickets", "sla_breaches_90d", "slow_resolutions_90d",
    "low_satisfaction_90d", "mean_days_late_365d",
})
# NULL means "none of it" for these (no payments due, nothing bought): filled with 0.
ZERO_FILL = frozenset({"mean_days_late_365d", "return_rate_365d", "own_trend_180d"})
# Other NULLs (single purchase: no gap; no survey answered) take the training median.
TREND_WINDOW_DAYS = 180  # own trend: orders in the last 180 days vs the customer's own earlier rate
NO_WARNING_REASON = "no warning sign stands out (buys and is served like most customers)"


def add_derived_features(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``orders_expected_180d`` and ``own_trend_180d`` (the customer's trend against their own history).

    Expected orders in the last 180 days at the customer's own earlier rate (orders before that
    window / the days they were a customer before it); NULL without at least 30 days of earlier
    history. ``own_trend_180d`` = ln((orders_180d + 0.5) / (expected + 0.5)): 0 = as usual, below 0 =
    buying less than usual (NULL when there is no earlier history).
    """
    w = TREND_WINDOW_DAYS
    earlier_days = pl.col("tenure_days") - w
    expected = pl.when(earlier_days >= 30).then(
        (pl.col("orders_total") - pl.col("orders_180d")).clip(0, None) * w / earlier_days)
    return frame.with_columns(expected.round(4).alias("orders_expected_180d")).with_columns(
        ((pl.col("orders_180d") + 0.5) / (pl.col("orders_expected_180d") + 0.5)).log().round(6)
        .alias("own_trend_180d"))


def _plural(n: float, word: str) -> str:
    n_int = int(round(n))
    return f"{n_int} {word}" if n_int == 1 else f"{n_int} {word}s"


def _fmt_amount(x: float) -> str:
    return f"{x:,.0f}"


# Plain words for a feature that raises the risk, from the customer's raw feature values.
REASON_TEXT: dict[str, Callable[[dict], str]] = {
    "recency_days": lambda r: f"no purchase for {r['recency_days']} days",
    "recency_gap_ratio": lambda r: f"no purchase for {r['recency_gap_ratio']:.1f}x the usual gap",
    "orders_365d": lambda r: f"only {_plural(r['orders_365d'], 'order')} in the last 365 days",
    "monetary_365d": lambda r: f"low spend: {_fmt_amount(r['monetary_365d'])} in the last 365 days",
    "own_trend_180d": lambda r: (
        f"buying less than usual: {_plural(r['orders_180d'], 'order')} in 180 days, "
        f"{r['orders_expected_180d']:.1f} expected from own history"),
    "tenure_days": lambda r: f"customer for only {r['tenure_days']} days",
    "distinct_products": lambda r: f"bought only {_plural(r['distinct_products'], 'different product')}",
    "return_rate_365d": lambda r: f"returned {100 * (r['return_rate_365d'] or 0):.0f}% of units in 365 days",
    "tickets_90d": lambda r: f"{_plural(r['tickets_90d'], 'service ticket')} in 90 days",
    "complaints_90d": lambda r: f"{_plural(r['complaints_90d'], 'complaint')} in 90 days",
    "open_tickets": lambda r: f"{_plural(r['open_tickets'], 'open ticket')}",
    "slow_resolutions_90d": lambda r: f"{_plural(r['slow_resolutions_90d'], 'slowly resolved ticket')} in 90 days",
    "sla_breaches_90d": lambda r: f"{_plural(r['sla_breaches_90d'], 'late first response')} in 90 days",
    "low_satisfaction_90d": lambda r: f"{_plural(r['low_satisfaction_90d'], 'low satisfaction score')} in 90 days",
    "last_satisfaction": lambda r: f"last satisfaction score {r['last_satisfaction']}/5",
    "mean_days_late_365d": lambda r: f"pays {r['mean_days_late_365d'] or 0:.0f} days late on average",
}
# A phrase is only true on one side of the population: the declared direction (+1 above the average,
# e.g. many complaints; -1 below, e.g. few orders). Some need a concrete value besides.
REASON_NEEDS: dict[str, Callable[[dict], bool]] = {
    "last_satisfaction": lambda r: r["last_satisfaction"] is not None and r["last_satisfaction"] <= 3,
    "own_trend_180d": lambda r: (r["orders_expected_180d"] is not None
                                 and r["orders_180d"] < r["orders_expected_180d"]),
    "complaints_90d": lambda r: r["complaints_90d"] > 0,
    "tickets_90d": lambda r: r["tickets_90d"] > 0,
    "open_tickets": lambda r: r["open_tickets"] > 0,
    "slow_resolutions_90d": lambda r: r["slow_resolutions_90d"] > 0,
    "sla_breaches_90d": lambda r: r["sla_breaches_90d"] > 0,
    "low_satisfaction_90d": lambda r: r["low_satisfaction_90d"] > 0,
    "mean_days_late_365d": lambda r: (r["mean_days_late_365d"] or 0) >= 1,
    "return_rate_365d": lambda r: (r["return_rate_365d"] or 0) > 0,
}
# Purchase reasons agree with the customer's own RFM score (same windows: recency, orders and spend
# of the last 365 days): (score column, highest score for which the phrase is given).
REASON_RFM_GUARD: dict[str, tuple[str, int]] = {
    "recency_days": ("r_score", 3),
    "orders_365d": ("f_score", 2),
    "monetary_365d": ("m_score", 2),
}
# Features saying the same thing share a group: at most one reason per group.
REASON_GROUP: dict[str, str] = {
    "recency_days": "silence", "recency_gap_ratio": "silence",
    "orders_365d": "frequency", "own_trend_180d": "frequency",
    "low_satisfaction_90d": "satisfaction", "last_satisfaction": "satisfaction",
    "tickets_90d": "tickets", "complaints_90d": "tickets",
    "slow_resolutions_90d": "service", "sla_breaches_90d": "service",
}
REASON_COLUMNS = frozenset(MODEL_FEATURES) | {"orders_180d", "orders_expected_180d", "r_score", "f_score",
                                              "m_score"}


@dataclass
class ChurnModel:
    """A fitted dropout model: preprocessing constants, coefficients and what it was trained on."""

    features: tuple[str, ...]
    fill_values: dict[str, float]
    means: np.ndarray
    scales: np.ndarray
    coef: np.ndarray
    intercept: float
    train_rows: int
    train_as_of: list = field(default_factory=list)
    dropped: tuple[str, ...] = ()  # features dropped because their fitted sign contradicted their direction

    def design(self, frame: pl.DataFrame) -> np.ndarray:
        """Standardized design matrix (rows in the frame's order)."""
        raw = _transformed(frame, self.features)
        for j, name in enumerate(self.features):
            col = raw[:, j]
            col[np.isnan(col)] = self.fill_values[name]
        return (raw - self.means) / self.scales

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Churn risk: probability that the customer has stopped buying."""
        z = self.design(frame)
        return 1.0 / (1.0 + np.exp(-(z @ self.coef + self.intercept)))

    def predict_label(self, frame: pl.DataFrame, silent: np.ndarray | None) -> np.ndarray:
        """Probability of the observed label (no purchase in the horizon): p + (1 - p) q."""
        p = self.predict(frame)
        return p if silent is None else p + (1.0 - p) * np.asarray(silent, dtype=float)

    def contributions(self, frame: pl.DataFrame) -> np.ndarray:
        return self.design(frame) * self.coef


def _transformed(frame: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    cols = []
    for name in features:
        values = frame[name].cast(pl.Float64).to_numpy().astype(float, copy=True)
        if name in LOG_FEATURES:
            values = np.log1p(np.clip(values, 0, None))
        cols.append(values)
    return np.column_stack(cols) if cols else np.empty((frame.height, 0))


def _fit_mixture(z: np.ndarray, y: np.ndarray, q: np.ndarray, c: float,
                 start: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """L2-penalized maximum likelihood of P(y=1) = p + (1 - p) q, p = sigmoid(z b + b0)."""
    n, k = z.shape
    x = np.column_stack([z, np.ones(n)])
    one_minus_q = np.clip(1.0 - q, 1e-12, 1.0)
    log_one_minus_q = np.log(one_minus_q)
    ridge = np.r_[np.full(k, 1.0 / c), 0.0] / n

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = x @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        p_label = np.clip(p + (1.0 - p) * q, 1e-12, 1.0)
        ll = np.where(y, np.log(p_label), np.log(np.clip(1.0 - p, 1e-12, 1.0)) + log_one_minus_q)
        g = np.where(y, one_minus_q * p * (1.0 - p) / p_label, -p)
        value = -ll.mean() + 0.5 * float((ridge * beta * beta).sum())
        return value, -(x.T @ g) / n + ridge * beta

    # one BLAS thread: on a small shared machine, threaded BLAS is several times slower here
    with threadpool_limits(limits=1):
        result = minimize(loss, np.zeros(k + 1) if start is None else start, jac=True, method="L-BFGS-B",
                          options={"maxiter": 500, "gtol": 1e-7})
    return result.x[:-1].copy(), float(result.x[-1])


def train_model(
    frame: pl.DataFrame, *, label: str = "churned", silent: str | None = "p_silent_if_alive", seed: int = 42,
    c: float = 1.0, features: Sequence[str] = MODEL_FEATURES,
) -> ChurnModel:
    """Fit on labelled snapshot rows (``label`` true/false); raises ValueError with one class only.

    ``silent`` names the column holding q (probability of a silent horizon while still buying); None or a
    missing column fits a plain logistic regression. ``seed`` is kept for the card (the fit is exact).
    """
    del seed  # deterministic solver: nothing random to seed
    frame = frame.filter(pl.col(label).is_not_null()).sort("as_of", "customer_id")
    y = frame[label].cast(pl.Int8).to_numpy()
    if frame.height == 0 or len(set(y.tolist())) < 2:
        raise ValueError(f"training needs churned and retained customers; got {frame.height} labelled rows "
                         f"with classes {sorted(set(y.tolist()))}")
    q = (frame[silent].cast(pl.Float64).fill_null(0.0).to_numpy() if silent and silent in frame.columns
         else np.zeros(frame.height))
    kept = list(features)
    dropped: list[str] = []
    start: np.ndarray | None = None
    while True:
        raw = _transformed(frame, kept)
        fill: dict[str, float] = {}
        for j, name in enumerate(kept):
            col = raw[:, j]
            observed = np.any(~np.isnan(col))
            value = 0.0 if name in ZERO_FILL or not observed else float(np.nanmedian(col))
            fill[name] = value
            col[np.isnan(col)] = value
        means = raw.mean(axis=0)
        scales = raw.std(axis=0)
        scales[scales == 0] = 1.0
        coef, intercept = _fit_mixture((raw - means) / scales, y.astype(bool), q, c, start)
        wrong = [f for f, b in zip(kept, coef, strict=True) if b * FEATURE_DIRECTION.get(f, 1) < -1e-6]
        if not wrong:
            break
        dropped += wrong
        keep = [j for j, f in enumerate(kept) if f not in wrong]
        start = np.r_[coef[keep], intercept]  # warm start from the fit without the dropped features
        kept = [kept[j] for j in keep]
    return ChurnModel(features=tuple(kept), fill_values=fill, means=means, scales=scales, coef=coef,
                      intercept=intercept, train_rows=frame.height,
                      train_as_of=sorted(set(frame["as_of"].to_list())), dropped=tuple(dropped))


def evaluate(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), Brier score, top-decile lift and base rate."""
    from transforms.evaluation import RankedScores

    y_true = np.asarray(y_true, dtype=int)
    out = RankedScores(y_true, np.asarray(scores, dtype=float)).metrics() if y_true.size else {
        "roc_auc": math.nan, "pr_auc": math.nan, "brier": math.nan, "top_decile_lift": math.nan,
        "base_rate": math.nan}
    return {**out, "rows": float(y_true.size)}


class _Row:
    """Read access to row ``i`` of column lists, as the reason texts expect (``r[name]``, ``r.get``)."""

    __slots__ = ("_columns", "_i")

    def __init__(self, columns: dict[str, list], i: int) -> None:
        self._columns = columns
        self._i = i

    def __getitem__(self, name: str):  # noqa: ANN204 - any column type
        return self._columns[name][self._i]

    def get(self, name: str, default=None):  # noqa: ANN001, ANN201
        values = self._columns.get(name)
        return default if values is None else values[self._i]


def _phrase_holds(feature: str, row: _Row) -> bool:
    need = REASON_NEEDS.get(feature)
    if need is not None and not need(row):
        return False
    guard = REASON_RFM_GUARD.get(feature)
    if guard is not None:
        score = row.get(guard[0])
        if score is not None and score > guard[1]:
            return False
    return True


def top_reasons(model: ChurnModel, frame: pl.DataFrame, k: int = 3) -> list[list[str]]:
    """Up to ``k`` plain-word reasons per row (features pushing the risk up the most); never empty."""
    z = model.design(frame)
    contrib = z * model.coef
    direction = np.array([FEATURE_DIRECTION.get(f, 1) for f in model.features])
    eligible = (contrib > 1e-9) & (np.sign(z) == direction)
    ranked = np.where(eligible, contrib, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")  # equal contributions keep feature order
    counts = eligible.sum(axis=1).tolist()
    groups = [REASON_GROUP.get(f, f) for f in model.features]
    columns = {c: frame[c].to_list() for c in frame.columns if c in REASON_COLUMNS}
    texts = [REASON_TEXT[f] for f in model.features]
    out: list[list[str]] = []
    for i in range(frame.height):
        reasons: list[str] = []
        seen: set[str] = set()
        row = _Row(columns, i)
        for j in order[i, : counts[i]].tolist():
            if groups[j] in seen or not _phrase_holds(model.features[j], row):
                continue
            seen.add(groups[j])
            reasons.append(texts[j](row))
            if len(reasons) == k:
                break
        out.append(reasons or [NO_WARNING_REASON])
    return out


def capacity_bands(risk: np.ndarray, tie_break: Sequence[str], shares: tuple[float, float], *,
                   reps: Sequence[str | None] | None = None, high_per_rep: int = 0) -> list[str | None]:
    """Risk bands by rank: ``high`` for the top ``shares[0]`` of the customers, ``medium`` down to
    ``shares[1]`` (cumulative), ``low`` for the rest; NaN risk gets no band.

    Counts are round-half-up of share x customers, so they hold exactly with ties (equal risks are
    ordered by ``tie_break``, e.g. customer id). With ``high_per_rep`` > 0 the high band is instead
    each rep's ``high_per_rep`` riskiest customers (the calls a rep can make in a week); customers
    without a rep fall back to the share.
    """
    high_share, medium_share = shares
    if not 0 <= high_share <= medium_share <= 1:
        raise ValueError(f"band shares must satisfy 0 <= high <= high + medium <= 1, got {shares}")
    risk = np.asarray(risk, dtype=float)
    scored = np.nonzero(~np.isnan(risk))[0]
    n = scored.size
    bands: list[str | None] = [None] * risk.size
    keys = np.asarray(tie_break, dtype=object)[scored]
    # highest risk first, ties by the tie-break key (ascending)
    order = scored[np.lexsort((keys.astype(str), -risk[scored]))]
    n_high = int(math.floor(high_share * n + 0.5))
    n_medium = int(math.floor(medium_share * n + 0.5))
    high: set[int] = set()
    if high_per_rep > 0 and reps is not None:
        taken: dict[str, int] = {}
        no_rep = [i for i in order.tolist() if reps[i] is None]
        for i in order.tolist():
            rep = reps[i]
            if rep is not None and taken.get(rep, 0) < high_per_rep:
                taken[rep] = taken.get(rep, 0) + 1
                high.add(i)
        high.update(no_rep[: int(math.floor(high_share * len(no_rep) + 0.5))])
        rest = [i for i in order.tolist() if i not in high]
        n_medium_rest = max(n_medium - len(high), 0)
        for i in high:
            bands[i] = "high"
        for pos, i in enumerate(rest):
            bands[i] = "medium" if pos < n_medium_rest else "low"
        return bands
    by_rank = np.full(risk.size, None, dtype=object)
    by_rank[order[:n_high]] = "high"
    by_rank[order[n_high:n_medium]] = "medium"
    by_rank[order[n_medium:]] = "low"
    return by_rank.tolist()
