"""The Online Retail sample (a sales-only file drop) through the churn step: sensible cohorts and features."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from churn_support import create_core_tables

from warehouse.analytics.churn import run_churn
from warehouse.foundation.settings import load_settings

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "online_retail_sample.csv"


@pytest.fixture(scope="module")
def retail(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    if not SAMPLE.is_file():
        pytest.skip(f"{SAMPLE} is not there (the ingest area copies it)")
    directory = tmp_path_factory.mktemp("retail")
    con = duckdb.connect(str(directory / "retail.duckdb"))
    create_core_tables(con)
    for schema in ("analytics", "marts"):
        con.execute(f"create schema if not exists {schema}")
    # core.fct_sales_line as the online_retail profile loads it: C-invoices are returns, ids prefixed
    con.execute(f"""
        insert into core.fct_sales_line by name
        select InvoiceNo || '-' || row_number() over () as sales_line_id, InvoiceNo as order_id,
               InvoiceDate::timestamp as order_ts, 0 as customer_key,
               case when CustomerID is not null
                    then 'online_retail:' || regexp_replace(CustomerID::varchar, '\\.0+$', '') end as customer_id,
               StockCode as product_id, Quantity as quantity, UnitPrice as unit_price,
               round(Quantity * UnitPrice, 2) as net_amount, starts_with(InvoiceNo, 'C') as is_return,
               false as is_cancelled, true as is_merchandise, 'online_retail' as source
        from read_csv('{SAMPLE}', all_varchar = false)""")
    counts = run_churn(con, load_settings(environ={}, data_dir=str(directory)))
    assert counts["marts.cohort_retention"] > 0
    yield con
    con.close()


def test_cohorts_are_sensible(retail: duckdb.DuckDBPyConnection) -> None:
    rows = retail.sql("select * from marts.cohort_retention").pl()
    months = sorted(set(rows["cohort_month"].to_list()))
    # sample spans 2010-12-01 .. 2011-12-09: the as-of date is 2011-12-10, so Dec 2010 - Nov 2011 are complete
    assert months[0] == dt.date(2010, 12, 1) and months[-1] == dt.date(2011, 11, 1) and len(months) == 12
    assert rows.height == sum(range(1, 13))  # every cohort has a row for each complete month since acquisition
    first = rows.filter(rows["months_since_first_purchase"] == 0)
    assert first["retention_rate"].to_list() == [1.0] * 12 and first["revenue_retained"].to_list() == [1.0] * 12
    later = rows.filter(rows["months_since_first_purchase"] > 0)
    assert later["retention_rate"].min() >= 0 and later["retention_rate"].max() < 0.6
    assert (later["customers_active"] <= later["cohort_size"]).all()
    buyers = retail.execute("""select count(distinct customer_id) from core.fct_sales_line
        where customer_id is not null and not is_return and order_ts < date '2011-12-01'""").fetchall()[0][0]
    assert first["cohort_size"].sum() == buyers


def test_sales_only_customers_get_purchase_features(retail: duckdb.DuckDBPyConnection) -> None:
    stats = retail.execute("""
        select count(*), count(recency_days), count(monetary_365d), max(tickets_90d), bool_or(has_service_history),
               count(last_satisfaction), min(customer_id like 'online_retail:%')
        from analytics.customer_features where as_of = date '2011-12-10'""").fetchall()[0]
    n, recency, monetary, tickets, service, satisfaction, prefixed = stats
    assert n > 3000 and recency == n and monetary == n
    assert tickets == 0 and service is False and satisfaction == 0 and prefixed is True


def test_scores_and_segments_for_every_customer(retail: duckdb.DuckDBPyConnection) -> None:
    card = retail.execute("select status, test_rows from analytics.model_card").fetchall()
    assert card[0][0] == "trained" and card[0][1] > 0
    missing = retail.execute("""select count(*) from marts.customer_retention
        where risk_score is null or rfm_segment is null or abc_class is null or lifecycle_stage is null""").fetchall()
    assert missing[0][0] == 0
    assert retail.execute("select count(*) from marts.customer_retention where credit_grade is not null"
                          ).fetchall()[0][0] == 0  # no payment records in a file drop
