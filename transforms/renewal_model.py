"""The contractual renewal model: will a service contract be renewed? (pure functions on polars frames)

For the agency's customers churn is a contract not renewed. The model is a logistic regression
(scikit-learn, standardized features) of "not renewed" on what is known when the customer decides
(``settings.services.renewal_decision_days`` before the end): late filings and complaints in the
window before, days late on the last filing, the renewal quote over the current fee, auto-renewal,
the contract's place in its chain, its value, late payments and slow ticket answers.

Evaluation is out of time: trained on contracts whose outcome was known by the test start, tested on
the contracts that ended after it (ROC AUC with a bootstrap interval, PR AUC, Brier score), beside
the named baseline "days late on the last filing" alone on the same rows. The tested model is the
one that scores. Each score comes with its drivers in plain words (the features that push the risk
up the most for that contract: coefficient x standardized value).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from transforms.evaluation import bootstrap, paired_difference, pr_auc, roc_auc

FEATURES: tuple[str, ...] = (
    "late_filings", "complaints", "days_late_last_filing", "price_change_pct", "auto_renew",
    "chain_position", "log_annual_value", "payment_days_late", "ticket_sla_breaches",
)
BASELINE = "days_late_last_filing"
LABEL = "not_renewed"
FEATURE_CAP = 6  # count features are capped (a seventh late filing says little more)


def _count(n: float, one: str, many: str) -> str:
    return f"{int(n)} {one if int(n) == 1 else many}"


# What a feature that raises the risk means, in words (value = the contract's raw feature value), and
# when a value can be a reason at all (a zero count or no price change explains nothing).
DRIVER_WORDS: dict[str, Callable[[float], str]] = {
    "late_filings": lambda v: f"{_count(v, 'late filing', 'late filings')} in the last 6 months",
    "complaints": lambda v: f"{_count(v, 'complaint', 'complaints')} in the last 6 months",
    "days_late_last_filing": lambda v: f"last filing {int(v)} days late",
    "price_change_pct": lambda v: f"renewal price {v:+.0%} against the current fee",
    "auto_renew": lambda v: "no auto-renewal",
    "chain_position": lambda v: "first contract term",
    "log_annual_value": lambda v: f"contract worth {math.exp(v) - 1:,.0f} a year",
    "payment_days_late": lambda v: f"invoices paid {v:.0f} days late on average",
    "ticket_sla_breaches": lambda v: f"{_count(v, 'ticket', 'tickets')} answered after the 24-hour SLA",
}
DRIVER_APPLIES: dict[str, Callable[[float], bool]] = {
    "late_filings": lambda v: v >= 1, "complaints": lambda v: v >= 1, "days_late_last_filing": lambda v: v >= 1,
    "price_change_pct": lambda v: abs(v) >= 0.005, "auto_renew": lambda v: v < 0.5, "chain_position": lambda v: v <= 1,
    "log_annual_value": lambda v: False, "payment_days_late": lambda v: v >= 1, "ticket_sla_breaches": lambda v: v >= 1,
}
MIN_DRIVER_CONTRIBUTION = 0.2  # log-odds a feature must add to be named as a driver


def prepare(frame: pl.DataFrame) -> np.ndarray:
    """The model matrix (missing values as 0, counts capped)."""
    cols = []
    for name in FEATURES:
        values = frame.get_column(name).cast(pl.Float64).fill_null(0.0).to_numpy() if name in frame.columns \
            else np.zeros(frame.height)
        if name in ("late_filings", "complaints", "ticket_sla_breaches"):
            values = np.minimum(values, FEATURE_CAP)
        cols.append(values)
    return np.column_stack(cols) if cols else np.zeros((frame.height, 0))


@dataclass
class RenewalModel:
    pipeline: Any
    means: np.ndarray
    scales: np.ndarray
    coefficients: np.ndarray

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """P(not renewed) per row."""
        if frame.height == 0:
            return np.zeros(0)
        return self.pipeline.predict_proba(prepare(frame))[:, 1]

    def contributions(self, frame: pl.DataFrame) -> np.ndarray:
        """coefficient x standardized value per row and feature (what pushes the log-odds up)."""
        x = prepare(frame)
        return (x - self.means) / self.scales * self.coefficients


def fit(frame: pl.DataFrame, *, c: float = 1.0, seed: int = 42) -> RenewalModel:
    """Fit on labelled rows (``not_renewed`` True/False); needs both outcomes."""
    x = prepare(frame)
    y = frame.get_column(LABEL).cast(pl.Boolean).to_numpy()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000, random_state=seed))
    pipeline.fit(x, y)
    scaler, logit = pipeline.steps[0][1], pipeline.steps[1][1]
    scales = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return RenewalModel(pipeline, scaler.mean_, scales, logit.coef_[0])


def drivers(model: RenewalModel, frame: pl.DataFrame, top: int = 3) -> list[list[str]]:
    """Per row, up to ``top`` features that raise its risk the most, in plain words."""
    if frame.height == 0:
        return []
    contrib = model.contributions(frame)
    x = prepare(frame)
    out = []
    for i in range(frame.height):
        order = np.argsort(-contrib[i], kind="stable")
        words = [DRIVER_WORDS[FEATURES[j]](float(x[i, j])) for j in order
                 if contrib[i, j] > MIN_DRIVER_CONTRIBUTION and DRIVER_APPLIES[FEATURES[j]](float(x[i, j]))]
        out.append(words[:top])
    return out


@dataclass
class Evaluation:
    status: str  # trained | insufficient_data
    note: str
    train_rows: int = 0
    train_positives: int = 0
    test_rows: int = 0
    test_positives: int = 0
    metrics: list[dict[str, Any]] = field(default_factory=list)  # one per scorer
    model: RenewalModel | None = None


def evaluate_out_of_time(train: pl.DataFrame, test: pl.DataFrame, *, c: float = 1.0, seed: int = 42,
                         samples: int = 1000, min_rows: int = 40) -> Evaluation:
    """Fit on ``train``, score ``test`` with the model and with the baseline; bootstrap intervals."""
    ev = Evaluation("insufficient_data", "", train.height, int(train.get_column(LABEL).sum()) if train.height else 0,
                    test.height, int(test.get_column(LABEL).sum()) if test.height else 0)
    classes_train = train.get_column(LABEL).n_unique() if train.height else 0
    if train.height < min_rows or classes_train < 2:
        ev.note = (f"{train.height} training contracts ({ev.train_positives} not renewed): need at least "
                   f"{min_rows} with both outcomes")
        return ev
    model = fit(train, c=c, seed=seed)
    ev.model, ev.status = model, "trained"
    if test.height == 0 or test.get_column(LABEL).n_unique() < 2:
        ev.note = "no test contracts with both outcomes in the test window: metrics not available"
        return ev
    y = test.get_column(LABEL).cast(pl.Boolean).to_numpy()
    p = model.predict(test)
    base = test.get_column(BASELINE).cast(pl.Float64).fill_null(0.0).to_numpy()
    auc = bootstrap(roc_auc, y, p, samples=samples, seed=seed)
    base_auc = bootstrap(roc_auc, y, base, samples=samples, seed=seed)
    diff = paired_difference(roc_auc, y, p, base, samples=samples, seed=seed)
    ev.metrics = [
        {"scorer": "renewal_model", "role": "model", "roc_auc": auc.value, "roc_auc_ci_low": auc.ci_low,
         "roc_auc_ci_high": auc.ci_high, "pr_auc": pr_auc(y, p), "brier": float(brier_score_loss(y, p)),
         "roc_auc_vs_baseline": diff.value, "vs_baseline_ci_low": diff.ci_low, "vs_baseline_ci_high": diff.ci_high},
        {"scorer": f"baseline_{BASELINE}", "role": "baseline", "roc_auc": base_auc.value,
         "roc_auc_ci_low": base_auc.ci_low, "roc_auc_ci_high": base_auc.ci_high, "pr_auc": pr_auc(y, base),
         "brier": None, "roc_auc_vs_baseline": 0.0, "vs_baseline_ci_low": None, "vs_baseline_ci_high": None},
    ]
    ev.note = f"bootstrap: {auc.samples} resamples of the test contracts, 95% percentile intervals"
    return ev
