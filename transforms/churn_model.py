"""Churn risk model: scaled logistic regression on point-in-time features, with plain-word reasons.

Trained on earlier snapshots (as-of dates with an observed label) and tested out of time on a later
one. Deterministic: fixed solver (Newton-Cholesky) and seed, rows sorted by (as_of, customer_id) before fitting.

Reasons: each feature's contribution to a customer's log-odds is ``coefficient x standardized value``
(how far the customer sits from the training population, in standard deviations, times the weight).
The three largest positive contributions, ties broken by feature order, are written in plain words
from the customer's raw values ("4 complaints in 90 days", "no purchase for 2.5x the usual gap").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

# Model inputs, in a fixed order (the order also breaks ties between equal contributions).
MODEL_FEATURES: tuple[str, ...] = (
    "recency_days",
    "recency_gap_ratio",
    "tenure_days",
    "orders_90d",
    "orders_365d",
    "monetary_365d",
    "mean_gap_days",
    "trend_orders_90d",
    "trend_monetary_90d",
    "distinct_products",
    "return_rate_365d",
    "tickets_90d",
    "complaints_90d",
    "open_tickets",
    "mean_resolution_hours",
    "worst_resolution_hours",
    "sla_breaches_90d",
    "slow_resolutions_90d",
    "low_satisfaction_90d",
    "last_satisfaction",
    "days_since_last_contact",
    "overdue_share_365d",
    "mean_days_late_365d",
)
# log1p before scaling (skewed counts, amounts and durations; negatives clipped to 0 first).
LOG_FEATURES = frozenset({
    "recency_days", "recency_gap_ratio", "tenure_days", "orders_90d", "orders_365d", "monetary_365d",
    "mean_gap_days", "distinct_products", "tickets_90d", "complaints_90d", "open_tickets",
    "mean_resolution_hours", "worst_resolution_hours", "sla_breaches_90d", "days_since_last_contact",
    "slow_resolutions_90d", "low_satisfaction_90d",
    "mean_days_late_365d",
})
# NULL means "none of it" for these (no tickets resolved, no payments due): filled with 0.
ZERO_FILL = frozenset({
    "mean_resolution_hours", "worst_resolution_hours", "overdue_share_365d", "mean_days_late_365d",
    "return_rate_365d",
})
# Other NULLs (single purchase: no gap; no survey answered; never contacted) take the training median.


def _plural(n: float, word: str) -> str:
    n_int = int(round(n))
    return f"{n_int} {word}" if n_int == 1 else f"{n_int} {word}s"


def _fmt_amount(x: float) -> str:
    return f"{x:,.0f}"


# Plain words for a feature that raises the risk, from the customer's raw feature values.
REASON_TEXT: dict[str, Callable[[dict], str]] = {
    "recency_days": lambda r: f"no purchase for {r['recency_days']} days",
    "recency_gap_ratio": lambda r: f"no purchase for {r['recency_gap_ratio']:.1f}x the usual gap",
    "tenure_days": lambda r: f"customer for only {r['tenure_days']} days",
    "orders_90d": lambda r: (f"only {_plural(r['orders_90d'], 'order')} in the last 90 days"
                             if r["orders_90d"] else "no order in the last 90 days"),
    "orders_365d": lambda r: (f"only {_plural(r['orders_365d'], 'order')} in the last 365 days"
                              if r["orders_365d"] else "no order in the last 365 days"),
    "monetary_365d": lambda r: f"low spend: {_fmt_amount(r['monetary_365d'])} in the last 365 days",
    "mean_gap_days": lambda r: (
        f"buys rarely: every {r['mean_gap_days']:.0f} days on average"
        if r["mean_gap_days"] is not None else "only one purchase so far"),
    "trend_orders_90d": lambda r: (
        f"{_plural(r['orders_90d'], 'order')} in the last 90 days vs {r['orders_prev_90d']} the 90 days before"),
    "trend_monetary_90d": lambda r: (
        f"spend down {100 * _spend_drop(r):.0f}% vs the previous 90 days"
        if _spend_drop(r) > 0 else "spend not growing vs the previous 90 days"),
    "distinct_products": lambda r: f"bought only {_plural(r['distinct_products'], 'different product')}",
    "return_rate_365d": lambda r: f"returned {100 * (r['return_rate_365d'] or 0):.0f}% of units in 365 days",
    "tickets_90d": lambda r: f"{_plural(r['tickets_90d'], 'service ticket')} in 90 days",
    "complaints_90d": lambda r: f"{_plural(r['complaints_90d'], 'complaint')} in 90 days",
    "open_tickets": lambda r: f"{_plural(r['open_tickets'], 'open ticket')}",
    "mean_resolution_hours": lambda r: (
        f"tickets took {r['mean_resolution_hours'] or 0:.0f} h to resolve on average"),
    "worst_resolution_hours": lambda r: (
        f"slowest ticket took {r['worst_resolution_hours'] or 0:.0f} h to resolve"),
    "sla_breaches_90d": lambda r: f"{_plural(r['sla_breaches_90d'], 'late first response')} in 90 days",
    "slow_resolutions_90d": lambda r: f"{_plural(r['slow_resolutions_90d'], 'slowly resolved ticket')} in 90 days",
    "low_satisfaction_90d": lambda r: f"{_plural(r['low_satisfaction_90d'], 'low satisfaction score')} in 90 days",
    "last_satisfaction": lambda r: (
        f"last satisfaction score {r['last_satisfaction']}/5" if r["last_satisfaction"] is not None
        else "no satisfaction score given"),
    "days_since_last_contact": lambda r: (
        f"no contact for {r['days_since_last_contact']} days" if r["days_since_last_contact"] is not None
        else "never contacted"),
    "overdue_share_365d": lambda r: f"{100 * (r['overdue_share_365d'] or 0):.0f}% of payments late in 365 days",
    "mean_days_late_365d": lambda r: f"pays {r['mean_days_late_365d'] or 0:.0f} days late on average",
}


# The side of the population a feature must be on for its phrase to be true: +1 above average
# (e.g. many complaints), -1 below (e.g. few orders). A feature whose fitted weight points the other
# way (correlated inputs) then never yields a misleading phrase.
REASON_DIRECTION: dict[str, int] = {
    "recency_days": 1, "recency_gap_ratio": 1, "tenure_days": -1, "orders_90d": -1, "orders_365d": -1,
    "monetary_365d": -1, "mean_gap_days": 1, "trend_orders_90d": -1, "trend_monetary_90d": -1,
    "distinct_products": -1, "return_rate_365d": 1, "tickets_90d": 1, "complaints_90d": 1,
    "open_tickets": 1, "mean_resolution_hours": 1, "worst_resolution_hours": 1, "sla_breaches_90d": 1,
    "slow_resolutions_90d": 1, "low_satisfaction_90d": 1,
    "last_satisfaction": -1, "days_since_last_contact": 1, "overdue_share_365d": 1, "mean_days_late_365d": 1,
}
# Features saying the same thing share a group: at most one reason per group.
REASON_GROUP: dict[str, str] = {
    "recency_days": "silence", "orders_90d": "silence", "orders_365d": "silence", "trend_orders_90d": "silence",
    "mean_resolution_hours": "resolution", "worst_resolution_hours": "resolution", "slow_resolutions_90d": "resolution",
    "low_satisfaction_90d": "satisfaction", "last_satisfaction": "satisfaction",
    "overdue_share_365d": "payment", "mean_days_late_365d": "payment",
    "tickets_90d": "tickets", "complaints_90d": "tickets",
}


def _spend_drop(r: dict) -> float:
    prev, last = r.get("monetary_prev_90d") or 0.0, r.get("monetary_90d") or 0.0
    return (prev - last) / prev if prev > 0 else 0.0


@dataclass
class ChurnModel:
    """A fitted model: preprocessing constants, coefficients and what it was trained on."""

    features: tuple[str, ...]
    fill_values: dict[str, float]
    means: np.ndarray
    scales: np.ndarray
    coef: np.ndarray
    intercept: float
    train_rows: int
    train_as_of: list = field(default_factory=list)

    def design(self, frame: pl.DataFrame) -> np.ndarray:
        """Standardized design matrix (rows in the frame's order)."""
        raw = _transformed(frame, self.features)
        for j, name in enumerate(self.features):
            col = raw[:, j]
            col[np.isnan(col)] = self.fill_values[name]
        return (raw - self.means) / self.scales

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        z = self.design(frame)
        return 1.0 / (1.0 + np.exp(-(z @ self.coef + self.intercept)))

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


def train_model(
    frame: pl.DataFrame, *, label: str = "churned", seed: int = 42, c: float = 1.0,
    features: Sequence[str] = MODEL_FEATURES,
) -> ChurnModel:
    """Fit on labelled snapshot rows (``label`` true/false); raises ValueError with one class only."""
    frame = frame.filter(pl.col(label).is_not_null()).sort("as_of", "customer_id")
    y = frame[label].cast(pl.Int8).to_numpy()
    if frame.height == 0 or len(set(y.tolist())) < 2:
        raise ValueError(f"training needs churned and retained customers; got {frame.height} labelled rows "
                         f"with classes {sorted(set(y.tolist()))}")
    features = tuple(features)
    raw = _transformed(frame, features)
    fill: dict[str, float] = {}
    for j, name in enumerate(features):
        col = raw[:, j]
        if name in ZERO_FILL:
            value = 0.0
        else:
            med = np.nanmedian(col) if np.any(~np.isnan(col)) else 0.0
            value = float(med)
        fill[name] = value
        col[np.isnan(col)] = value
    means = raw.mean(axis=0)
    scales = raw.std(axis=0)
    scales[scales == 0] = 1.0
    z = (raw - means) / scales
    clf = LogisticRegression(C=c, solver="newton-cholesky", max_iter=200, random_state=seed)
    # one BLAS thread: on a small shared machine, threaded BLAS is several times slower here
    with threadpool_limits(limits=1):
        clf.fit(z, y)
    return ChurnModel(features=features, fill_values=fill, means=means, scales=scales,
                      coef=clf.coef_[0].copy(), intercept=float(clf.intercept_[0]),
                      train_rows=frame.height, train_as_of=sorted(set(frame["as_of"].to_list())))


def evaluate(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), Brier score, top-decile lift and base rate."""
    y_true = np.asarray(y_true, dtype=int)
    scores = np.asarray(scores, dtype=float)
    n = y_true.size
    base = float(y_true.mean()) if n else math.nan
    two_classes = n > 0 and 0 < y_true.sum() < n
    order = np.lexsort((np.arange(n), -scores))  # highest score first, ties by row order
    top = order[: max(1, int(math.ceil(n * 0.1)))] if n else order
    lift = float(y_true[top].mean() / base) if n and base > 0 else math.nan
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)) if two_classes else math.nan,
        "pr_auc": float(average_precision_score(y_true, scores)) if two_classes else math.nan,
        "brier": float(brier_score_loss(y_true, scores)) if n else math.nan,
        "top_decile_lift": lift,
        "base_rate": base,
        "rows": float(n),
    }


def top_reasons(model: ChurnModel, frame: pl.DataFrame, k: int = 3) -> list[list[str]]:
    """Up to ``k`` plain-word reasons per row (features pushing the risk up the most)."""
    z = model.design(frame)
    contrib = z * model.coef
    direction = np.array([REASON_DIRECTION[f] for f in model.features])
    eligible = (contrib > 1e-9) & (np.sign(z) == direction)
    ranked = np.where(eligible, contrib, -np.inf)
    # highest contribution first; equal contributions keep feature order (stable sort)
    order = np.argsort(-ranked, axis=1, kind="stable")
    n_eligible = eligible.sum(axis=1)
    groups = [REASON_GROUP.get(f, f) for f in model.features]
    columns = {c: frame[c].to_list() for c in frame.columns if c in REASON_COLUMNS}
    texts = [REASON_TEXT[f] for f in model.features]
    top = order[:, : min(order.shape[1], 3 * k)].tolist()  # enough candidates for k distinct groups
    counts = n_eligible.tolist()
    out: list[list[str]] = []
    for i in range(frame.height):
        reasons: list[str] = []
        if counts[i]:
            seen: set[str] = set()
            row = _Row(columns, i)
            candidates = top[i][: counts[i]] if counts[i] <= len(top[i]) else order[i, : counts[i]].tolist()
            for j in candidates:
                if groups[j] in seen:
                    continue
                seen.add(groups[j])
                reasons.append(texts[j](row))
                if len(reasons) == k:
                    break
        out.append(reasons)
    return out


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


REASON_COLUMNS = frozenset(MODEL_FEATURES) | {"monetary_prev_90d", "monetary_90d", "orders_prev_90d"}


def risk_band(score: float | None, cutoffs: tuple[float, float]) -> str | None:
    """low below the first cut-off, medium below the second, else high."""
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return None
    low, high = cutoffs
    return "low" if score < low else ("medium" if score < high else "high")
