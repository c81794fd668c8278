"""What every panel of the report reads through: the published marts' columns by role, and the error a
chart raises when what it needs is not published yet (``warehouse.serve.report`` and
``warehouse.serve.report_services`` both draw on it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import plotly.graph_objects as go

# Candidate column names per role, first match wins (case-insensitive).
COLUMNS: dict[str, tuple[str, ...]] = {
    "support": ("support",),
    "confidence": ("confidence",),
    "lift": ("lift",),
    "antecedent": ("antecedent_names", "antecedent_name", "antecedents_names", "antecedent_items",
                   "antecedents", "antecedent"),
    "consequent": ("consequent_names", "consequent_name", "consequents_names", "consequent_items",
                   "consequents", "consequent"),
    "rule_segment_dimension": ("segment_dimension",),
    "rule_segment": ("segment_value", "segment", "segment_name"),
    "rule_window": ("window_name", "window", "window_label"),
    "recommended": ("recommended_product_name", "recommended_name", "product_name", "recommended_product",
                    "recommended_product_id", "product_id", "item"),
    "customer": ("customer_id",),
    "cohort": ("cohort_month", "acquisition_month", "cohort", "first_purchase_month"),
    "period": ("months_since_first_purchase", "months_since_acquisition", "months_since_first",
               "month_number", "months_since", "period", "month_offset"),
    "retention": ("retention_rate", "retention", "retained_share", "retention_pct"),
    "rfm_segment": ("rfm_segment", "segment_name", "segment"),
    "risk": ("risk_score", "churn_risk", "churn_probability", "churn_score", "score"),
    "risk_band": ("risk_band", "churn_risk_band", "band"),
    "lifecycle": ("lifecycle_stage", "lifecycle", "stage"),
    "churn_month": ("month", "snapshot_month", "as_of_month", "period_month", "as_of"),
    "churn_dimension": ("dimension", "segment_type", "breakdown", "group_by"),
    "churn_value": ("dimension_value", "segment_value", "value", "segment", "group_value"),
    "churn_rate": ("churn_rate", "churn_pct", "rate"),
    "value_at_risk": ("value_at_risk",),
    "retention_rank": ("retention_rank",),
    "action": ("recommended_action",),
    "offer": ("retention_offer",),
    "card_model": ("model",),
    "card_scope": ("scope",),
    "card_role": ("role",),
    "card_auc": ("roc_auc",),
    "card_auc_low": ("roc_auc_ci_low",),
    "card_auc_high": ("roc_auc_ci_high",),
    "card_diff": ("roc_auc_diff_vs_published",),
    "card_diff_low": ("roc_auc_diff_ci_low",),
    "card_diff_high": ("roc_auc_diff_ci_high",),
    "card_brier": ("brier",),
    "card_lift": ("top_decile_lift",),
}


class MissingData(Exception):
    """What a chart needs is not published yet (the message says what)."""


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    description: str
    figure: go.Figure | None = None
    missing: str | None = None
    table: tuple[tuple[str, ...], list[tuple[Any, ...]]] | None = None  # (header, rows) under the chart


class Marts:
    """Column lookup over the published file's tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None) -> None:
        self.con = con
        self._columns: dict[str, dict[str, str]] = {}
        if con is not None:
            for table, column in con.execute(
                "select table_name, column_name from duckdb_columns() "
                "where database_name = current_database() and schema_name = 'main' order by column_index"
            ).fetchall():
                self._columns.setdefault(table, {})[column.lower()] = column

    def require(self, table: str, *roles: str) -> dict[str, str]:
        """Actual column names for each role, or MissingData naming what is absent."""
        if table not in self._columns:
            raise MissingData(f"marts.{table} is not published yet")
        found = self.optional(table, *roles)
        missing = [r for r in roles if r not in found]
        if missing:
            wanted = "; ".join(f"{r} (one of {', '.join(COLUMNS[r])})" for r in missing)
            raise MissingData(f"marts.{table} has no column for {wanted}")
        return found

    def optional(self, table: str, *roles: str) -> dict[str, str]:
        cols = self._columns.get(table, {})
        found = {}
        for role in roles:
            match = next((cols[c] for c in COLUMNS[role] if c in cols), None)
            if match is not None:
                found[role] = match
        return found

    def rows(self, table: str, sql: str) -> list[tuple[Any, ...]]:
        assert self.con is not None
        rows = self.con.execute(sql).fetchall()
        if not rows:
            raise MissingData(f"marts.{table} has no rows in this published version")
        return rows


def layout(fig: go.Figure, *, height: int = 420, **kwargs: Any) -> go.Figure:
    fig.update_layout(margin={"l": 60, "r": 30, "t": 30, "b": 60}, height=height, template="plotly_white", **kwargs)
    return fig
