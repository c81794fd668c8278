"""Mining, churn, publish and report together on a small synthetic star schema (the real marts)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from churn_support import synthesize_core

from warehouse.foundation.db import warehouse_reader, warehouse_writer
from warehouse.foundation.settings import Settings
from warehouse.ops.analytics_pipeline import run_analytics
from warehouse.serve.publish import read_manifest

# Which mart each report chart is drawn from.
CHART_MART = {
    "cross_sell_rules": "cross_sell_rules", "recommendation_counts": "cross_sell_recommendations",
    "cohort_retention": "cohort_retention", "churn_risk_by_segment": "customer_retention",
    "churn_trend": "churn_by_segment", "rfm_segment_sizes": "customer_retention",
    "lifecycle_funnel": "customer_retention", "recommender_card": "recommender_card",
    "churn_model_card": "model_card", "retention_bands": "customer_retention",
}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_run_analytics_publishes_the_real_marts_and_reports_them(settings: Settings) -> None:
    with warehouse_writer(settings) as con:
        synthesize_core(con, n_customers=300, seed=5)
    summary = run_analytics(settings, "e2e-run")

    with warehouse_reader(settings) as con:
        working = {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0] for (t,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()}
    manifest = read_manifest(settings)
    assert manifest is not None and manifest.run_id == "e2e-run"
    assert {t: n for t, n in manifest.row_counts.items() if t in working} == working
    assert {"customer_retention", "cohort_retention", "churn_by_segment", "cross_sell_rules",
            "recommender_card"} <= set(working)
    assert working["customer_retention"] > 0

    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        undocumented = con.execute(
            "select table_name, column_name from marts.data_dictionary "
            "where description is null or grain is null").fetchall()
        assert undocumented == [], "every published column needs a DuckDB comment and its table a grain"
    finally:
        con.close()
    assert manifest.warnings == ()

    html = Path(summary["report"]).read_text(encoding="utf-8")
    panels = dict(re.findall(r'data-chart="([^"]+)" data-status="([^"]+)"', html))
    expected = {chart: ("chart" if working.get(mart) else "no-data") for chart, mart in CHART_MART.items()}
    assert panels == expected
