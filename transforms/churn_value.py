"""Purchase-history models from the maintained ``lifetimes`` package: BG/NBD and Gamma-Gamma.

Inputs are the point-in-time feature rows (``warehouse.analytics.churn_features``) of one as-of date, in days:
frequency ``x`` = purchase days - 1 (repeat purchases), recency ``t_x`` = days from the first to the last
purchase day, age ``T`` = days from the first purchase day to the as-of date, spend = net amount per
purchase day. Customers with equal (x, t_x, T) are fitted once with a weight (same likelihood, fewer rows).

Used for: the BG/NBD baseline of the model card (probability of no purchase in the horizon), the
rate correction of the churn model (probability that a customer who is still buying stays silent for
the whole horizon by chance), and the predicted 12-month value (BG/NBD purchases x Gamma-Gamma spend).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl


@dataclass(frozen=True)
class PurchaseHistory:
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    spend: np.ndarray  # mean net amount per purchase day

    @classmethod
    def of(cls, frame: pl.DataFrame) -> PurchaseHistory:
        days = frame["purchase_days_total"].cast(pl.Float64).to_numpy()
        T = frame["tenure_days"].cast(pl.Float64).to_numpy()
        t_x = T - frame["recency_days"].cast(pl.Float64).to_numpy()
        spend = frame["monetary_total"].cast(pl.Float64).to_numpy() / np.maximum(days, 1)
        return cls(x=np.maximum(days - 1, 0), t_x=np.clip(t_x, 0, None), T=np.maximum(T, 1), spend=spend)


class PurchaseModel:
    """A fitted BG/NBD (and, when it fits, a Gamma-Gamma spend model) for one as-of date."""

    def __init__(self, frame: pl.DataFrame, *, penalizer: float = 0.001, max_customers: int = 30_000,
                 spend: bool = True, seed: int = 42, start: dict[str, float] | None = None) -> None:
        from lifetimes import BetaGeoFitter

        if frame.height == 0:
            raise ValueError("no purchase histories to fit BG/NBD on")
        # the parameters describe the whole customer base: a fixed-seed sample estimates them as well
        fit_on = frame if frame.height <= max_customers else frame.sample(n=max_customers, seed=seed)
        h = PurchaseHistory.of(fit_on)
        grouped = (pd.DataFrame({"x": h.x, "t_x": h.t_x, "T": h.T}).groupby(["x", "t_x", "T"]).size()
                   .reset_index(name="w"))
        # ``start``: parameters of a nearby fit (log scale, alpha in lifetimes' scaled time) to begin from
        initial = None
        if start is not None and all(start.get(k, 0) > 0 for k in ("r", "alpha", "a", "b")):
            from lifetimes.utils import _scale_time

            scale = _scale_time(grouped["T"].to_numpy())
            initial = np.log([start["r"], start["alpha"] * scale, start["a"], start["b"]])
        # short or sparse histories may not converge: retry with a ten times larger penalizer, twice
        for attempt in range(3):
            self.bgf = BetaGeoFitter(penalizer_coef=max(penalizer, 1e-4) * 10**attempt if attempt else penalizer)
            try:
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")  # lifetimes prints the optimizer's state on failure
                    self.bgf.fit(grouped["x"], grouped["t_x"], grouped["T"], weights=grouped["w"],
                                 initial_params=initial if attempt == 0 else None)
                break
            except Exception as exc:  # noqa: BLE001 - lifetimes' ConvergenceError and numerical errors
                if attempt == 2:
                    raise ValueError(f"BG/NBD did not converge: {str(exc).strip().splitlines()[0]}") from exc
        self.penalizer = float(self.bgf.penalizer_coef)
        self.params = {k: float(v) for k, v in self.bgf.params_.items()}
        self.ggf = None
        repeat = (h.x > 0) & (h.spend > 0)
        if spend and repeat.sum() >= 20:
            from lifetimes import GammaGammaFitter

            ggf = GammaGammaFitter(penalizer_coef=penalizer)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ggf.fit(h.x[repeat], h.spend[repeat])
                self.ggf = ggf
            except Exception:  # noqa: BLE001 - lifetimes raises ConvergenceError or plain errors; fall back
                self.ggf = None
        self.mean_spend = float(np.mean(h.spend[h.spend > 0])) if (h.spend > 0).any() else 0.0

    def p_alive(self, frame: pl.DataFrame) -> np.ndarray:
        h = PurchaseHistory.of(frame)
        return np.clip(np.asarray(self.bgf.conditional_probability_alive(h.x, h.t_x, h.T), dtype=float), 0, 1)

    def p_silent_if_alive(self, frame: pl.DataFrame, horizon_days: int) -> np.ndarray:
        """P(no purchase in the next ``horizon_days`` | still buying): ((a+T)/(a+T+H))^(r+x)."""
        h = PurchaseHistory.of(frame)
        r, alpha = self.params["r"], self.params["alpha"]
        return ((alpha + h.T) / (alpha + h.T + horizon_days)) ** (r + h.x)

    def p_no_purchase(self, frame: pl.DataFrame, horizon_days: int) -> np.ndarray:
        """BG/NBD probability of no purchase in the next ``horizon_days`` (dropped out, or silent by chance)."""
        alive = self.p_alive(frame)
        return 1.0 - alive * (1.0 - self.p_silent_if_alive(frame, horizon_days))

    def expected_purchases(self, frame: pl.DataFrame, days: int) -> np.ndarray:
        h = PurchaseHistory.of(frame)
        out = self.bgf.conditional_expected_number_of_purchases_up_to_time(days, h.x, h.t_x, h.T)
        return np.clip(np.nan_to_num(np.asarray(out, dtype=float)), 0, None)

    def expected_spend(self, frame: pl.DataFrame) -> np.ndarray:
        """Gamma-Gamma expected spend per purchase (own mean shrunk to the population); own mean without it."""
        h = PurchaseHistory.of(frame)
        if self.ggf is None:
            return np.where(h.spend > 0, h.spend, self.mean_spend)
        own = np.where(h.spend > 0, h.spend, 0.0)
        x = np.where(h.spend > 0, h.x, 0.0)  # no positive spend: the population mean alone
        value = np.asarray(self.ggf.conditional_expected_average_profit(pd.Series(x), pd.Series(own)), dtype=float)
        return np.clip(np.nan_to_num(value, nan=self.mean_spend), 0, None)

    def predicted_value(self, frame: pl.DataFrame, days: int = 365) -> np.ndarray:
        """Expected net spend in the next ``days``: BG/NBD purchases x Gamma-Gamma spend per purchase."""
        return self.expected_purchases(frame, days) * self.expected_spend(frame)

    def value_if_retained(self, frame: pl.DataFrame, days: int = 365) -> np.ndarray:
        """Expected spend in the next ``days`` given the customer keeps buying (BG/NBD purchases / P(alive))."""
        alive = np.maximum(self.p_alive(frame), 1e-6)
        return self.predicted_value(frame, days) / alive


__all__ = ["PurchaseHistory", "PurchaseModel"]
