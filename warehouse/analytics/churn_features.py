"""Point-in-time churn features and the churn label, computed with DuckDB SQL over ``core.*``.

Both functions take a connection whose ``core`` schema has the documented columns
(``fct_sales_line``, ``dim_product``, ``fct_service_ticket``, ``fct_interaction``, ``fct_payment``)
and a list of as-of dates, and return a polars frame; they write nothing. Features read only rows
strictly before each as-of date. Sales-only histories (file drops such as ``online_retail:<id>``
customers without service records) get every purchase feature; their service counts are 0 and
their service averages, last satisfaction and days since last contact are NULL
(``has_service_history`` is false).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

import duckdb
import polars as pl

from warehouse.foundation.db import read_sql

# One description per feature column: table comments and the docs page are built from these.
FEATURE_DESCRIPTIONS: dict[str, str] = {
    "customer_id": "customer business id (CRM customer_code, or <profile>:<id> for file drops)",
    "as_of": "as-of date: every feature uses only data strictly before this date",
    "recency_days": "days from the last purchase day to the as-of date",
    "tenure_days": "days from the first purchase day to the as-of date",
    "first_purchase_date": "day of the first purchase before the as-of date",
    "last_purchase_date": "day of the last purchase before the as-of date",
    "purchase_days_total": "number of distinct days with a purchase before the as-of date",
    "orders_total": "orders (with at least one bought, not cancelled line) before the as-of date",
    "monetary_total": "net amount of all non-cancelled lines (returns negative) before the as-of date",
    "orders_30d": "orders in the 30 days before the as-of date",
    "orders_90d": "orders in the 90 days before the as-of date",
    "orders_180d": "orders in the 180 days before the as-of date",
    "orders_365d": "orders in the 365 days before the as-of date",
    "monetary_30d": "net amount (returns negative) in the 30 days before the as-of date",
    "monetary_90d": "net amount (returns negative) in the 90 days before the as-of date",
    "monetary_180d": "net amount (returns negative) in the 180 days before the as-of date",
    "monetary_365d": "net amount (returns negative) in the 365 days before the as-of date",
    "orders_prev_90d": "orders 91-180 days before the as-of date (the 90 days before the last 90)",
    "monetary_prev_90d": "net amount 91-180 days before the as-of date",
    "mean_gap_days": "mean days between consecutive purchase days (NULL with fewer than two)",
    "std_gap_days": "population standard deviation of the days between purchase days (NULL with fewer than two)",
    "recency_gap_ratio": "recency divided by the usual gap (mean_gap_days); 2.5 = silent for 2.5x the usual gap",
    "trend_orders_90d": "orders in the last 90 days minus orders in the 90 days before",
    "trend_monetary_90d": "spend trend (last 90 - previous 90) / (|last 90| + |previous 90|), from -1 (stopped) "
                          "to +1 (new spend); 0 when both are 0",
    "distinct_products": "distinct products ever bought before the as-of date",
    "distinct_categories": "distinct product categories ever bought before the as-of date",
    "return_rate_365d": "units returned / units bought in the 365 days before the as-of date (NULL if none bought)",
    "tickets_90d": "service tickets opened in the 90 days before the as-of date (0 without service records)",
    "complaints_90d": "complaint tickets opened in the 90 days before the as-of date",
    "open_tickets": "tickets opened before and not resolved before the as-of date",
    "mean_resolution_hours": "mean hours to resolve the tickets opened in the last 365 days and resolved "
                             "before the as-of date (NULL if none)",
    "worst_resolution_hours": "longest resolution time in hours among those tickets (NULL if none)",
    "sla_breaches_90d": "tickets of the last 90 days whose first response came (or, at the as-of date, "
                        "had not come) after the first-response SLA (settings.validation.first_response_sla_hours)",
    "slow_resolutions_90d": "tickets of the last 90 days resolved after more than settings.churn.slow_resolution_hours "
                            "hours, or still open longer than that at the as-of date",
    "low_satisfaction_90d": "tickets of the last 90 days with a satisfaction score at or below "
                            "settings.churn.low_satisfaction_max, known before the as-of date",
    "last_satisfaction": "satisfaction score 1-5 of the latest answered ticket before the as-of date (NULL if none)",
    "days_since_last_contact": "days since the last interaction or ticket before the as-of date (NULL if none)",
    "contacts_365d": "interactions plus tickets in the 365 days before the as-of date",
    "contact_channels_365d": "distinct contact channels used in the 365 days before the as-of date",
    "digital_contact_share_365d": "share of those contacts through web, email or WeChat (NULL without contacts)",
    "payments_due_365d": "payments falling due in the 365 days before the as-of date",
    "overdue_share_365d": "share of those payments paid late or still unpaid at the as-of date (NULL without payments)",
    "mean_days_late_365d": "mean days paid late (unpaid: days overdue at the as-of date) over those payments",
    "has_service_history": "true when the customer has any interaction or ticket before the as-of date "
                           "(false for sales-only histories such as file drops: service counts are then 0)",
}

LABEL_DESCRIPTIONS: dict[str, str] = {
    "customer_id": "customer business id",
    "as_of": "as-of date of the snapshot",
    "active_in_lookback": "bought in the look-back window before the as-of date (the churn horizon unless "
                          "settings.churn.lookback_days is set): an active customer, not lapsed",
    "label_observed": "the whole horizon after the as-of date lies before the data end, so the label is known",
    "churned": "non-contractual churn: active in the look-back window and no purchase in the next H days, "
               "H the churn horizon from the purchase cycle (NULL when not active or not yet observable)",
    "next_purchase_date": "first purchase day in the horizon after the as-of date (NULL if none or not observable)",
}


def _as_of_list(as_of_dates: Iterable[dt.date]) -> list[dt.date]:
    dates = sorted({d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)) for d in as_of_dates})
    if not dates:
        raise ValueError("at least one as-of date is needed")
    return dates


def _register_as_of(con: duckdb.DuckDBPyConnection, dates: list[dt.date]) -> None:
    con.execute("create or replace temp table _churn_as_of (as_of date)")
    con.executemany("insert into _churn_as_of values (?)", [[d] for d in dates])


def compute_features(
    con: duckdb.DuckDBPyConnection,
    as_of_dates: Iterable[dt.date],
    *,
    sla_hours: float = 24,
    slow_resolution_hours: float = 72,
    low_satisfaction_max: int = 2,
) -> pl.DataFrame:
    """One row per customer per as-of date with every feature of ``FEATURE_DESCRIPTIONS``."""
    dates = _as_of_list(as_of_dates)
    _register_as_of(con, dates)
    params = {"sla_hours": sla_hours, "slow_hours": slow_resolution_hours, "low_satisfaction": low_satisfaction_max}
    frame = con.sql(read_sql("analytics/customer_features.sql"), params=params).pl()
    return frame.select(list(FEATURE_DESCRIPTIONS))


def purchase_cycle(con: duckdb.DuckDBPyConnection, before: dt.date, quantile: float) -> tuple[float | None, int]:
    """The ``quantile`` of the days between a customer's consecutive purchase days before ``before``."""
    row = con.execute(read_sql("analytics/purchase_cycle.sql"), {"before": before, "quantile": quantile}).fetchall()[0]
    return (None if row[0] is None else float(row[0])), int(row[1])


def label_horizon(gap_quantile_days: float | None, *, round_days: int, min_days: int, max_days: int) -> int:
    """The churn horizon from the purchase cycle: the gap quantile rounded up to ``round_days``, clipped.

    No gaps at all (every customer bought once) gives ``max_days``.
    """
    if gap_quantile_days is None:
        return max_days
    rounded = math.ceil(gap_quantile_days / round_days) * round_days if round_days > 0 else gap_quantile_days
    return int(min(max(rounded, min_days), max_days))


def churn_labels(
    con: duckdb.DuckDBPyConnection,
    as_of_dates: Iterable[dt.date],
    *,
    horizon_days: int,
    lookback_days: int,
    data_end: dt.date,
) -> pl.DataFrame:
    """The churn label per customer per as-of date (uses data after the as-of date: never a feature)."""
    dates = _as_of_list(as_of_dates)
    _register_as_of(con, dates)
    params = {"horizon_days": horizon_days, "lookback_days": lookback_days, "data_end": data_end}
    frame = con.sql(read_sql("analytics/churn_labels.sql"), params=params).pl()
    return frame.select(list(LABEL_DESCRIPTIONS))
