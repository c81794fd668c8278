"""Rolling-origin backtest of the churn risk model against its baselines, on the same rows.

For each test origin (a month start whose label is observed) the candidates are trained on the
snapshots before it whose label windows close by the origin, and every model scores the same test
rows (the customers active at the origin). Models, simplest first:

- ``recency``: days since the last purchase (a ranking, not a probability: no Brier score);
- ``bgnbd``: BG/NBD (``lifetimes``) probability of no purchase in the horizon, purchase history only;
- ``dropout``: the dropout logistic model of ``transforms.churn_model`` (features + rate correction);
- ``gbm``: gradient boosting (scikit-learn ``HistGradientBoostingClassifier``, 20-100 rounds by training
  rows) on the same features and the same rate correction as an input.

Metrics are computed on the observed label (what can be checked in production) with bootstrap
intervals (``transforms.evaluation``), per origin and pooled over the origins. The published model is
the simplest probability model (bgnbd, dropout, gbm) whose pooled ROC AUC is not significantly worse
than the best one's by more than a margin (non-inferiority: the upper end of the paired bootstrap
interval of the difference is at least -margin).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from transforms.churn_model import ChurnModel, train_model
from transforms.churn_value import PurchaseModel
from transforms.evaluation import Interval, bootstrap_metrics

MODELS: tuple[str, ...] = ("recency", "bgnbd", "dropout", "gbm")  # simplest first
PROBABILITY_MODELS: tuple[str, ...] = ("bgnbd", "dropout", "gbm")
SILENT = "p_silent_if_alive"


@dataclass
class Origin:
    test_as_of: dt.date
    train_dates: list[dt.date]
    train_rows: int = 0
    test_rows: int = 0
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    coefficients: dict[str, float] = field(default_factory=dict)


class GradientBoosting:
    """The gradient-boosting baseline on the dropout model's design matrix plus the rate correction."""

    def __init__(self, reference: ChurnModel, frame: pl.DataFrame, *, seed: int) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        self.reference = reference
        # boosting rounds grow with the rows (20 for a few thousand, 100 from 50,000): small data supports
        # fewer trees, and each round has a fixed cost
        rounds = int(min(100, max(20, frame.height // 500)))
        self.clf = HistGradientBoostingClassifier(max_iter=rounds, learning_rate=0.1, max_leaf_nodes=31,
                                                  early_stopping=False, random_state=seed)
        with threadpool_limits(limits=1):
            self.clf.fit(self._x(frame), frame["churned"].cast(pl.Int8).to_numpy())

    def _x(self, frame: pl.DataFrame) -> np.ndarray:
        return np.column_stack([self.reference.design(frame), frame[SILENT].cast(pl.Float64).to_numpy()])

    def predict_label(self, frame: pl.DataFrame) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return self.clf.predict_proba(self._x(frame))[:, 1]


def churn_from_label(p_label: np.ndarray, silent: np.ndarray) -> np.ndarray:
    """P(stopped buying) from P(no purchase in H) by the mixture identity p_label = p + (1 - p) q."""
    return np.clip((p_label - silent) / np.clip(1.0 - silent, 1e-9, None), 0.0, 1.0)


def _sample(frame: pl.DataFrame, max_rows: int, seed: int) -> pl.DataFrame:
    frame = frame.sort("as_of", "customer_id")
    return frame if frame.height <= max_rows else frame.sample(n=max_rows, seed=seed).sort("as_of", "customer_id")


def score_origin(labelled: pl.DataFrame, origin: Origin, purchase: PurchaseModel, horizon: int, *, c: float,
                 seed: int, max_train_rows: int, max_test_rows: int, fit_gbm: bool = True) -> Origin:
    """Train the candidates for one origin and score its test rows with every model.

    Training and test rows are fixed-seed samples of at most ``max_train_rows`` / ``max_test_rows``
    (the same rows for every model).
    """
    train = _sample(labelled.filter(pl.col("as_of").is_in(origin.train_dates)), max_train_rows, seed)
    test = _sample(labelled.filter(pl.col("as_of") == origin.test_as_of), max_test_rows, seed)
    train = train.with_columns(pl.Series(SILENT, purchase.p_silent_if_alive(train, horizon)))
    test = test.with_columns(pl.Series(SILENT, purchase.p_silent_if_alive(test, horizon)))
    origin.train_rows, origin.test_rows = train.height, test.height
    origin.y = test["churned"].cast(pl.Int8).to_numpy()
    model = train_model(train, c=c, seed=seed)
    origin.coefficients = {f: round(float(b), 6) for f, b in zip(model.features, model.coef, strict=True)}
    origin.scores = {
        "recency": test["recency_days"].cast(pl.Float64).to_numpy(),
        "bgnbd": purchase.p_no_purchase(test, horizon),
        "dropout": model.predict_label(test, test[SILENT].to_numpy()),
    }
    if fit_gbm:
        origin.scores["gbm"] = GradientBoosting(model, train, seed=seed).predict_label(test)
    return origin


def _pooled(origins: list[Origin]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    names = [m for m in MODELS if all(m in o.scores for o in origins)]
    y = np.concatenate([o.y for o in origins]) if origins else np.zeros(0)
    return y, {m: np.concatenate([o.scores[m] for o in origins]) for m in names}


def select_model(origins: list[Origin], *, n_boot: int, seed: int, alpha: float,
                 margin: float = 0.005) -> tuple[str, str]:
    """The simplest probability model not significantly worse (pooled ROC AUC, by more than ``margin``)
    than the best; and why."""
    y, scores = _pooled(origins)
    candidates = [m for m in PROBABILITY_MODELS if m in scores]
    if y.size == 0 or not (0 < y.sum() < y.size):
        return "dropout", "no labelled test rows with both classes: the dropout model by default"
    probs = {m: scores[m] for m in candidates}
    points = bootstrap_metrics(y, probs, n_boot=0, seed=seed)
    best = max(candidates, key=lambda m: points[m]["roc_auc"].value)
    ci = bootstrap_metrics(y, probs, n_boot=n_boot, seed=seed, alpha=alpha, reference=best, metrics=("roc_auc",))
    for m in candidates:
        if m == best:
            return m, f"{m} has the best pooled ROC AUC ({points[m]['roc_auc'].value:.3f}); no simpler model within its interval"
        diff = ci[m]["roc_auc_diff"]
        if diff.high >= -margin:
            return m, (f"{m} is the simplest model not significantly worse than the best ({best}) by more than "
                       f"{margin}: pooled ROC AUC difference {diff.value:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}]")
    return best, f"{best} has the best pooled ROC AUC"


def card_rows(origins: list[Origin], selected: str, *, n_boot: int, seed: int, alpha: float,
              common: dict, describe: Callable[[str], str]) -> list[dict]:
    """One row per model per origin plus one pooled row per model, with intervals and paired differences."""
    rows: list[dict] = []
    scopes: list[tuple[str, Origin | None]] = [(o.test_as_of.isoformat(), o) for o in origins]
    scopes.append(("pooled", None))
    for scope, origin in scopes:
        if origin is None:
            y, scores = _pooled(origins)
            train_rows = sum(o.train_rows for o in origins)
            first = min((d for o in origins for d in o.train_dates), default=None)
            last = max((d for o in origins for d in o.train_dates), default=None)
        else:
            y, scores = origin.y, origin.scores
            train_rows = origin.train_rows
            first, last = (min(origin.train_dates), max(origin.train_dates)) if origin.train_dates else (None, None)
        two_classes = y.size > 0 and 0 < y.sum() < y.size
        stats = (bootstrap_metrics(y, scores, n_boot=n_boot, seed=seed, alpha=alpha,
                                   reference=selected if selected in scores else None)
                 if two_classes else {})
        for model in MODELS:
            if model not in scores:
                continue
            s = stats.get(model, {})

            def cell(metric: str, s: dict[str, Interval] = s) -> tuple[float | None, float | None, float | None]:
                value = s.get(metric)
                if value is None:
                    return None, None, None
                return tuple(None if math.isnan(v) else round(v, 6) for v in (value.value, value.low, value.high))

            auc, auc_lo, auc_hi = cell("roc_auc")
            diff, diff_lo, diff_hi = cell("roc_auc_diff")
            pr, pr_lo, pr_hi = cell("pr_auc")
            lift, lift_lo, lift_hi = cell("top_decile_lift")
            brier, brier_lo, brier_hi = cell("brier") if model != "recency" else (None, None, None)
            rows.append({
                **common,
                "scope": scope, "test_as_of": origin.test_as_of if origin else None,
                "model": model, "description": describe(model),
                "role": "published" if model == selected else ("candidate" if model in PROBABILITY_MODELS
                                                              else "baseline"),
                "selected": model == selected,
                "train_as_of_first": first, "train_as_of_last": last, "train_rows": train_rows,
                "test_rows": int(y.size), "test_positives": int(y.sum()),
                "test_base_rate": round(float(y.mean()), 6) if y.size else None,
                "roc_auc": auc, "roc_auc_ci_low": auc_lo, "roc_auc_ci_high": auc_hi,
                "roc_auc_diff_vs_published": diff if model != selected else 0.0,
                "roc_auc_diff_ci_low": diff_lo if model != selected else 0.0,
                "roc_auc_diff_ci_high": diff_hi if model != selected else 0.0,
                "pr_auc": pr, "pr_auc_ci_low": pr_lo, "pr_auc_ci_high": pr_hi,
                "brier": brier, "brier_ci_low": brier_lo, "brier_ci_high": brier_hi,
                "top_decile_lift": lift, "top_decile_lift_ci_low": lift_lo, "top_decile_lift_ci_high": lift_hi,
                "mean_predicted": (round(float(np.mean(scores[model])), 6)
                                   if model != "recency" and y.size else None),
            })
    return rows


__all__ = ["MODELS", "PROBABILITY_MODELS", "GradientBoosting", "Origin", "card_rows", "churn_from_label",
           "score_origin", "select_model"]
