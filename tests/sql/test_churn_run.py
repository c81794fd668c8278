"""run_churn on a small synthetic warehouse: tables, idempotence, comments, no personal data, offers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest
from churn_support import create_core_tables, synthesize_core

from warehouse.analytics.churn import COLUMN_COMMENTS, ChurnInputError, run_churn, snapshot_dates
from warehouse.foundation.settings import load_settings

AS_OF = dt.date(2026, 1, 1)
TABLES = ("analytics.customer_features", "analytics.churn_scores", "analytics.customer_segments",
          "analytics.model_card", "marts.customer_retention", "marts.customer_winback", "marts.model_card",
          "marts.cohort_retention", "marts.churn_by_segment")


@pytest.fixture(scope="module")
def warehouse(churn_warehouse):
    """The session's scored synthetic warehouse (tests/sql/conftest.py)."""
    return churn_warehouse


def test_every_table_written(warehouse) -> None:
    con, _, counts = warehouse
    assert set(counts) == set(TABLES)
    for table in TABLES:
        n = con.execute(f"select count(*) from {table}").fetchall()[0][0]
        assert n == counts[table] and n > 0, table


def test_rerun_is_idempotent(warehouse) -> None:
    con, settings, first = warehouse
    before = {t: con.execute(f"select count(*) from {t}").fetchall()[0][0] for t in TABLES}
    scores_before = con.execute("select customer_id, as_of, risk_score, reasons from analytics.churn_scores "
                                "order by all").fetchall()
    again = run_churn(con, settings, AS_OF)
    assert again == first
    assert {t: con.execute(f"select count(*) from {t}").fetchall()[0][0] for t in TABLES} == before
    assert con.execute("select customer_id, as_of, risk_score, reasons from analytics.churn_scores "
                       "order by all").fetchall() == scores_before
    dupes = con.execute("select count(*) from (select customer_id, as_of from analytics.customer_features "
                        "group by all having count(*) > 1)").fetchall()[0][0]
    assert dupes == 0


def test_model_card_out_of_time(warehouse) -> None:
    con, settings, _ = warehouse
    card = con.sql("select * from analytics.model_card").pl()
    horizon = card["horizon_days"][0]
    dates = snapshot_dates(AS_OF, settings, horizon)
    origins = dates["origins"]
    assert len(origins) == settings.churn.backtest_origins == 3
    assert set(card["scope"].to_list()) == {o.isoformat() for o in origins} | {"pooled"}
    assert set(card["model"].to_list()) == {"recency", "bgnbd", "dropout", "gbm"}
    assert card.filter(pl.col("selected"))["model"].n_unique() == 1
    for origin in origins:
        rows = card.filter(pl.col("test_as_of") == origin)
        # every origin's test rows are labelled by the as-of date; training labels close by the origin
        assert origin + dt.timedelta(days=int(horizon)) <= AS_OF
        assert all(last + dt.timedelta(days=int(horizon)) <= origin for last in rows["train_as_of_last"])
    pooled = card.filter(pl.col("scope") == "pooled")
    published = pooled.filter(pl.col("selected")).to_dicts()[0]
    assert published["status"] == "trained" and published["roc_auc"] > 0.7
    assert published["roc_auc_ci_low"] < published["roc_auc"] < published["roc_auc_ci_high"]
    assert 0 < published["brier"] < 0.25 and published["top_decile_lift"] > 1
    assert abs(published["mean_predicted"] - published["test_base_rate"]) < 0.05  # calibrated in the large
    assert pooled.filter(pl.col("model") == "recency")["brier"][0] is None  # a ranking, not a probability
    assert published["train_rows"] > 0 and published["scored_rows"] > 0 and len(published["features"]) > 5
    published_card = con.sql("select * from marts.model_card").pl()
    assert published_card.height == card.height


def test_comments_on_every_column(warehouse) -> None:
    con, _, _ = warehouse
    for table in TABLES:
        schema, name = table.split(".")
        assert con.execute("select comment from duckdb_tables() where schema_name = ? and table_name = ?",
                           [schema, name]).fetchall()[0][0].startswith("grain:")
        missing = con.execute(
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ? "
            "and (comment is null or comment = '')", [schema, name]).fetchall()
        assert missing == [], f"{table} columns without comment: {missing}"
        assert set(COLUMN_COMMENTS[table]) >= {c[0] for c in con.execute(
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ?",
            [schema, name]).fetchall()}


def test_marts_hold_no_personal_data(warehouse) -> None:
    con, _, _ = warehouse
    cols = {r[0] for r in con.execute("select column_name from duckdb_columns() where schema_name = 'marts' "
                                      "and table_name in ('customer_retention', 'customer_winback', "
                                      "'cohort_retention', 'churn_by_segment', 'model_card')").fetchall()}
    assert not cols & {"name", "email", "phone", "customer_name"}
    values = con.execute("select count(*) from marts.customer_retention where "
                         "concat_ws(' ', reasons, recommended_action) like '%@%'").fetchall()[0][0]
    assert values == 0


def test_retention_mart_content(warehouse) -> None:
    con, settings, _ = warehouse
    rows = con.sql("select * from marts.customer_retention").pl()
    assert rows["customer_id"].n_unique() == rows.height
    assert set(rows["risk_band"].unique().to_list()) <= {"low", "medium", "high"}
    assert rows["reason_1"].null_count() == 0  # no empty reasons
    offer = con.execute("""
        select retention_offer, retention_offer_reason, retention_offer_source from marts.customer_retention
        where customer_id = 'C000001'
        union all select winback_offer, winback_offer_reason, winback_offer_source from marts.customer_winback
        where customer_id = 'C000001'""").fetchall()
    assert len(offer) == 1 and offer[0][0] == "Teapot" and offer[0][1].startswith("bought Cups")
    assert offer[0][2] == "cross_sell"
    high = rows.filter(pl.col("risk_band") == "high")
    assert high.height and high["retention_offer"].null_count() == 0  # every high-risk customer gets an offer
    assert rows["sales_rep_id"].null_count() < rows.height
    assert set(rows["lifecycle_stage"].unique().to_list()) <= {"exploration", "formation", "stability", "decline"}
    # the list is worked in value-at-risk order; value at risk = risk x value if retained
    assert rows.sort("retention_rank")["value_at_risk"].is_sorted(descending=True)
    assert ((rows["value_at_risk"] - rows["risk_score"] * rows["value_if_retained"]).abs() < 0.01).all()


def test_churn_by_segment_consistent(warehouse) -> None:
    con, settings, _ = warehouse
    bad = con.execute("""
        select count(*) from marts.churn_by_segment as s
        join marts.churn_by_segment as a on a.month = s.month and a.dimension = 'all'
        group by s.month, s.dimension, a.customers_active
        having sum(s.customers_active) != a.customers_active""").fetchall()
    assert bad == []
    months = [r[0] for r in con.execute("select distinct month from marts.churn_by_segment order by 1").fetchall()]
    assert len(months) == settings.churn.history_months
    assert all(m.day == 1 and m + dt.timedelta(days=settings.churn.horizon_days) <= AS_OF for m in months)


def test_missing_core_tables_is_a_clear_error(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    with pytest.raises(ChurnInputError, match="core.fct_sales_line"):
        run_churn(con, load_settings(environ={}, data_dir=str(tmp_path)), AS_OF)
    create_core_tables(con)
    with pytest.raises(ChurnInputError, match="no rows"):
        run_churn(con, load_settings(environ={}, data_dir=str(tmp_path)))


def test_short_history_writes_tables_without_a_model(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "short.duckdb"))
    for schema in ("analytics", "marts"):
        con.execute(f"create schema {schema}")
    synthesize_core(con, n_customers=40, start=dt.date(2025, 8, 1), end=dt.date(2025, 10, 30), seed=2)
    # a fixed 90-day horizon: three months of history leave no labelled training snapshot
    settings = load_settings(environ={}, data_dir=str(tmp_path), churn={"horizon_days": 90})
    run_churn(con, settings, dt.date(2025, 11, 1))
    card = con.sql("select status, note, roc_auc from analytics.model_card").fetchall()
    assert card[0][0] == "not_trained" and "training needs churned and retained" in card[0][1]
    assert card[0][2] is None
    rows = con.execute("select risk_score, risk_band, recommended_action, rfm_segment "
                       "from marts.customer_retention").fetchall()
    assert rows and all(r[0] is None and r[1] is None and r[2] and r[3] for r in rows)  # listed, not ranked
