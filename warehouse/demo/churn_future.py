"""Planted churn after the end of the demo source's history (ground truth only, never in the source).

The generator's period loop (``_Builder.simulate``) keeps running for ``FUTURE_DAYS`` past the
business clock with the same churn process: the same hazard and drivers, and hidden tickets that feed
those drivers but are never written. Only the resulting churn dates are kept, in the ground truth's
``churn.churn_date_by_customer`` next to the ones inside the history, with ``churn.planted_until``
marking how far the plan reaches. So the scores published at the end of history can be checked
against what happens next, and ``crmwh demo advance`` replays those planted dates instead of drawing
new ones until it passes ``planted_until`` (a customer planted to churn on day D buys nothing after D).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from warehouse.demo.config import DAY, EPOCH

# How far past the source's end date churn is planted (at least 180 days: a 90-day horizon scored at
# the end of history, plus room for `demo advance`).
FUTURE_DAYS = 210


def future_period_bounds(clock: int, period_days: int, days: int = FUTURE_DAYS) -> list[tuple[int, int]]:
    """Periods (start, end) in epoch seconds from just after ``clock`` for ``days`` days."""
    start = clock + 1
    end = start + days * DAY
    bounds = []
    while start < end:
        bounds.append((start, min(start + period_days * DAY, end)))
        start += period_days * DAY
    return bounds


def planted_until(clock: int, days: int = FUTURE_DAYS) -> dt.date:
    """The last day whose churn events are planted (the end date plus ``days``)."""
    return EPOCH + dt.timedelta(days=int(clock // DAY) + days)


def future_summary(churn: np.ndarray, clock: int, days: int = FUTURE_DAYS) -> dict[str, Any]:
    """Ground-truth fields describing the planted future (counts by end of history and after it)."""
    finite = np.isfinite(churn)
    return {
        "planted_until": planted_until(clock, days).isoformat(),
        "future_days": days,
        "churned_by_end_date": int((finite & (churn <= clock)).sum()),
        "churned_after_end_date": int((finite & (churn > clock)).sum()),
        "future_note": "churn_date_by_customer holds planted dates inside the history and up to planted_until "
                       "after the end date; the later ones are the future the source does not show yet",
    }


def planted_window(truth: dict[str, Any] | None, old: int, new: int) -> tuple[int, int]:
    """The part of the advance window (old, new] that is NOT covered by planted dates: (start, end).

    Without a ground truth (or an older one without ``planted_until``) the whole window is unplanned.
    """
    value = ((truth or {}).get("churn") or {}).get("planted_until")
    if truth is None or value is None:
        return old, new
    until = (dt.date.fromisoformat(value) - EPOCH).days * DAY + DAY - 1  # last second of that day
    return max(old, min(until, new)), new
