"""run_mining on a small star schema in a real DuckDB file: tables, marts, drift, segments, idempotence."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from mining_support import AS_OF, BUNDLES, add_line, build_star

from warehouse.analytics.mining import TABLE_DOCS, run_mining
from warehouse.foundation.settings import Settings, load_settings

MINING = {"min_support": 0.02, "min_confidence": 0.1, "min_segment_baskets": 100, "min_itemset_count": 5}


@pytest.fixture
def mining_settings(data_dir: Path) -> Settings:
    return load_settings(mining=MINING)


@pytest.fixture(scope="module")
def star_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_star(tmp_path_factory.mktemp("star") / "star.duckdb")


@pytest.fixture
def star(star_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the star schema for one test."""
    target = tmp_path / "star.duckdb"
    shutil.copy(star_template, target)
    return target


def _table(con: duckdb.DuckDBPyConnection, table: str, order: str) -> pd.DataFrame:
    return con.execute(f"select * from {table} order by {order}").df()


def test_run_mining_writes_documented_tables(star: Path, mining_settings: Settings) -> None:
    con = duckdb.connect(str(star))
    counts = run_mining(con, mining_settings, AS_OF)
    for table in TABLE_DOCS:
        assert counts[table] > 0, table
        schema, name = table.split(".")
        comment = con.execute("select comment from duckdb_tables() where schema_name = ? and table_name = ?",
                              [schema, name]).fetchall()[0][0]
        assert comment and comment.startswith("grain:"), table
        undocumented = con.execute(
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ? "
            "and (comment is null or comment = '')", [schema, name]).fetchall()
        assert undocumented == [], (table, undocumented)
    # marts carry no names, e-mails or phones
    mart_columns = con.execute("select table_name, column_name from duckdb_columns() where schema_name = 'marts'"
                               ).fetchall()
    assert not [c for c in mart_columns if re.search(r"email|phone|^name$|customer_name", c[1])]
    texts = con.execute("select string_agg(reason, ' ') from marts.cross_sell_recommendations").fetchall()[0][0]
    assert "Person " not in texts and "@" not in texts


def test_baskets_leave_out_cancelled_returns_and_non_merchandise(star: Path, mining_settings: Settings) -> None:
    con = duckdb.connect(str(star))
    counts = run_mining(con, mining_settings, AS_OF)
    expected = con.execute("""
        select count(distinct order_id) from core.fct_sales_line
        where not is_cancelled and not is_return and quantity > 0 and is_merchandise
          and product_id <> 'POST' and order_ts < ?""", [dt.datetime.combine(AS_OF, dt.time()) + dt.timedelta(days=1)]
    ).fetchall()[0][0]
    assert counts["baskets"] == expected
    assert counts["lines_cancelled_lines"] > 0 and counts["lines_non_merchandise_lines"] > 0
    items = con.execute("select distinct unnest(itemset) from analytics.basket_itemsets").fetchall()
    assert ("POST",) not in items
    n = con.execute("select distinct n_baskets from analytics.basket_itemsets "
                    "where segment_dimension = 'all' and window_name = 'all'").fetchall()
    assert n == [(expected,)]


def test_planted_bundles_lead_the_overall_rules(star: Path, mining_settings: Settings) -> None:
    con = duckdb.connect(str(star))
    run_mining(con, mining_settings, AS_OF)
    rules = con.execute("""
        select antecedent, consequent, lift, is_significant from marts.cross_sell_rules
        where segment_dimension = 'all' and window_name = 'all' order by lift desc, rule_id""").fetchall()
    pairs = {frozenset(p) for b in BUNDLES for p in itertools.combinations(b, 2)}
    items = [set(r[0]) | set(r[1]) for r in rules]
    related = [any(frozenset(p) in pairs for p in itertools.combinations(sorted(i), 2)) for i in items]
    first_unrelated = related.index(False)
    for bundle in BUNDLES:
        inside = [k for k, i in enumerate(items) if i <= set(bundle)]
        assert inside and inside[0] < first_unrelated, f"bundle {bundle} ranks below an unrelated rule"
        assert all(rules[k][2] > 1 and rules[k][3] for k in inside)


def test_recommendations_skip_held_and_returned_products(star: Path, data_dir: Path) -> None:
    # the fixed blend (a fit needs more purchases than this star has after as_of - blend_days): the
    # ranking is then the documented weighted sum of the sources' scores
    settings = load_settings(mining=MINING, recommender={"min_fit_positives": 10**9})
    con = duckdb.connect(str(star))
    ts = dt.datetime.combine(AS_OF, dt.time(12))
    # customer 7 buys the jumbo bag; customer 9 buys it too but also returned the lunch bag
    for c in (7, 9):
        con.execute("delete from core.fct_sales_line where customer_key = ?", [c])
    add_line(con, "X7", 7, "P010", ts=ts)
    add_line(con, "X9", 9, "P010", ts=ts)
    add_line(con, "X9R", 9, "P011", ts=ts, quantity=-1, is_return=True)
    counts = run_mining(con, settings, AS_OF)
    recs = con.execute("select * from marts.cross_sell_recommendations where customer_id in ('C00007', 'C00009') "
                       "order by customer_id, recommendation_rank").df()
    seven = recs[recs["customer_id"] == "C00007"]
    assert seven.iloc[0]["product_id"] == "P011" and seven.iloc[0]["source"] == "basket_rules"
    reason = seven.iloc[0]["reason"]
    assert re.fullmatch(r"bought JUMBO BAG RED: \d+% of such baskets also hold LUNCH BAG RED", reason), reason
    rule = con.execute("select confidence, lift, is_offerable from marts.cross_sell_rules where rule_id = ? "
                       "and segment_dimension = 'all' and window_name = 'all'", [seven.iloc[0]["rule_id"]]).fetchall()
    assert rule and f"{round(100 * rule[0][0])}%" in reason and rule[0][2]
    assert seven.iloc[0]["lift"] == pytest.approx(rule[0][1])
    assert "P011" not in set(recs[recs["customer_id"] == "C00009"]["product_id"])
    # nobody is offered a product bought or returned in the look-back (a cancelled order bought nothing)
    held = con.execute("""
        select count(*) from marts.cross_sell_recommendations r join core.fct_sales_line s
          on s.customer_id = r.customer_id and trim(s.product_id) = r.product_id
        where s.order_ts >= r.as_of_end - interval 365 day and s.order_ts < r.as_of_end
          and (s.is_return or s.quantity < 0 or not s.is_cancelled)""").fetchall()[0][0]
    assert held == 0
    # every customer who bought in the look-back gets exactly N offers, ranked 1..N
    active = con.execute("select count(distinct customer_id) from core.fct_sales_line where customer_id is not null "
                         "and not is_return and not is_cancelled and quantity > 0 "
                         "and order_ts >= ?::timestamp - interval 365 day and order_ts < ?",
                         [ts.replace(hour=0) + dt.timedelta(days=1), ts.replace(hour=0) + dt.timedelta(days=1)]
                         ).fetchall()[0][0]
    per = con.execute("select count(*), min(recommendation_rank), max(recommendation_rank) "
                      "from marts.cross_sell_recommendations group by customer_id").fetchall()
    n = settings.recommender.offers_per_customer
    assert len(per) == active == counts["active_customers"] and all(p == (n, 1, n) for p in per)
    sources = {r[0] for r in con.execute("select distinct source from marts.cross_sell_recommendations").fetchall()}
    assert "basket_rules" in sources and sources <= {"basket_rules", "sequence", "co_purchase", "category_taste",
                                                     "popularity"}


def test_drift_segments_and_idempotence(star: Path, mining_settings: Settings) -> None:
    con = duckdb.connect(str(star))
    # a pair sold together only in the current window, often: it must appear
    for k in range(40):
        ts = dt.datetime.combine(AS_OF, dt.time(9)) - dt.timedelta(days=k % 60)
        add_line(con, f"N{k}", 3, "P030", ts=ts)
        add_line(con, f"N{k}", 3, "P031", ts=ts)
    # two snapshots: the one on or before as_of is used, the later one is not
    con.execute("create table analytics.customer_segments as select customer_id, d.as_of, "
                "case when d.as_of > ? then 'Z' when customer_key % 3 = 0 then 'A' else 'B' end as value_tier "
                "from core.dim_customer, (select unnest([?::date, ?::date]) as as_of) d "
                "where customer_id is not null", [AS_OF, AS_OF - dt.timedelta(days=30), AS_OF + dt.timedelta(days=1)])
    first = run_mining(con, mining_settings, AS_OF)
    drift = _table(con, "analytics.rule_drift", "rule_id")
    appeared = drift[drift["status"] == "appeared"]
    assert any(set(a) | set(c) == {"P030", "P031"} for a, c in zip(appeared["antecedent"], appeared["consequent"],
                                                                    strict=True))
    assert appeared["lift_previous"].isna().all() and appeared["lift_current"].notna().all()
    gone = drift[drift["status"] == "disappeared"]
    assert gone["lift_current"].isna().all() and gone["lift_previous"].notna().all()
    changed = drift[drift["status"] == "lift_changed"]
    assert ((changed["lift_ratio"] - 1).abs() >= mining_settings.mining.drift_lift_change).all()
    scopes = set(con.execute("select distinct segment_dimension, segment_value, window_name "
                             "from analytics.association_rules").fetchall())
    assert {("all", "all", "all"), ("all", "all", "current"), ("all", "all", "previous"), ("segment", "consumer", "all"),
            ("region", "north", "all"), ("value_tier", "B", "all")} <= scopes
    assert not [s for s in scopes if s[0] == "value_tier" and s[1] == "Z"]
    before = {t: _table(con, t, "all") for t in TABLE_DOCS}
    second = run_mining(con, mining_settings, AS_OF)
    assert first == second
    for table, frame in before.items():
        pd.testing.assert_frame_equal(frame, _table(con, table, "all"), check_like=False)


def test_spark_engine_setting_is_used(star: Path, data_dir: Path) -> None:
    settings = load_settings(mining={**MINING, "engine": "nonsense"})
    con = duckdb.connect(str(star))
    counts = run_mining(con, settings, AS_OF)  # anything but spark is the mlxtend engine
    assert counts["analytics.association_rules"] > 0


def test_empty_warehouse_gives_empty_typed_tables(tmp_path: Path, mining_settings: Settings) -> None:
    from mining_support import CORE_DDL

    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    con.execute(CORE_DDL)
    counts = run_mining(con, mining_settings, AS_OF)
    assert all(counts[t] == 0 for t in TABLE_DOCS) and counts["baskets"] == 0
    types = dict(con.execute("select column_name, data_type from duckdb_columns() "
                             "where schema_name = 'marts' and table_name = 'cross_sell_rules'").fetchall())
    assert types["as_of"] == "DATE" and types["antecedent"] == "VARCHAR[]" and types["lift"] == "DOUBLE"
