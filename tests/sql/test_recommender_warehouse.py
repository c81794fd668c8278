"""The recommender on a real DuckDB star schema: the support that adapts, `crmwh evaluate` and its card."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from mining_support import AS_OF, build_star

from warehouse.analytics.mining import run_mining
from warehouse.analytics.recommender import default_backtest_as_of, evaluate_recommender
from warehouse.cli import main
from warehouse.foundation.settings import get_settings, load_settings

# the overall scopes only (segments add nothing here), and fewer bootstrap resamples: cheap tests
MINING = {"min_support": 0.02, "min_confidence": 0.1, "min_itemset_count": 5, "segment_dimensions": ""}
RECOMMENDER = {"bootstrap_samples": 200}


@pytest.fixture(scope="module")
def star_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_star(tmp_path_factory.mktemp("star-rec") / "star.duckdb")


def test_support_adapts_and_says_so(star_template: Path, tmp_path: Path, data_dir: Path,
                                    caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "star.duckdb"
    shutil.copy(star_template, path)
    con = duckdb.connect(str(path))
    # a support no pair reaches: 15% of baskets (the planted bundles are in about 12% each); the floor
    # (3 baskets, 0.02%) lets the run halve it down to the bundles
    settings = load_settings(mining={**MINING, "min_support": 0.15, "min_offer_rules": 3}, recommender=RECOMMENDER)
    with caplog.at_level(logging.WARNING, logger="warehouse.analytics.mining"):
        counts = run_mining(con, settings, AS_OF)
    assert counts["support_lowered"] == 1
    assert counts["min_count_used"] < counts["min_count_configured"] == -(-15 * counts["baskets"] // 100)
    assert counts["offerable_rules"] >= 3
    assert any("lowered to" in r.getMessage() for r in caplog.records)
    offerable = con.execute("select count(*) from marts.cross_sell_rules where is_offerable and "
                            "segment_dimension = 'all' and window_name = 'all'").fetchall()[0][0]
    assert offerable == counts["offerable_rules"]
    # with the floor at the configured support itself nothing is lowered, and the run still says so
    caplog.clear()
    strict = load_settings(mining={**MINING, "min_support": 0.15, "min_offer_rules": 3, "adaptive_support_floor": 0.15},
                           recommender=RECOMMENDER)
    with caplog.at_level(logging.WARNING, logger="warehouse.analytics.mining"):
        again = run_mining(con, strict, AS_OF)
    assert again["support_lowered"] == 0 and again["offerable_rules"] == 0
    assert any("still 0 at the floor" in r.getMessage() for r in caplog.records)


def test_crmwh_evaluate_writes_the_card(star_template: Path, data_dir: Path, capsys: pytest.CaptureFixture,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMWH_MINING__SEGMENT_DIMENSIONS", "")
    monkeypatch.setenv("CRMWH_RECOMMENDER__BOOTSTRAP_SAMPLES", "200")
    get_settings.cache_clear()
    settings = get_settings()
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(star_template, settings.warehouse_path)
    assert main(["evaluate", "--holdout-days", "30", "--k", "3"]) == 0
    out = capsys.readouterr().out
    assert "hybrid" in out and "popularity" in out and "co_purchase" in out
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    card = con.execute("select * from marts.recommender_card order by recommender").df()
    latest = con.execute("select max(order_ts) from core.fct_sales_line").fetchall()[0][0]
    comment = con.execute("select comment from duckdb_tables() where table_name = 'recommender_card'").fetchall()[0][0]
    con.close()
    assert set(card["recommender"]) == {"hybrid", "popularity", "co_purchase"}
    assert (card["as_of"].astype(str) == str(latest.date() - dt.timedelta(days=30))).all()
    assert (card["k"] == 3).all() and card["is_published"].sum() == 1
    assert ((card["hit_rate_ci_low"] <= card["hit_rate"]) & (card["hit_rate"] <= card["hit_rate_ci_high"])).all()
    assert (card["customer_coverage"][card["recommender"] != "co_purchase"] == 1.0).all()
    pop = card.set_index("recommender").loc["popularity"]
    assert pop["hit_rate_vs_popularity"] == pytest.approx(1.0) and pop["ratio_ci_low"] == pytest.approx(1.0)
    assert comment.startswith("grain:")
    assert main(["evaluate", "--as-of", "not-a-date"]) == 2


def test_backtest_scores_only_what_was_new_to_the_customer(star_template: Path, tmp_path: Path,
                                                           data_dir: Path) -> None:
    path = tmp_path / "star.duckdb"
    shutil.copy(star_template, path)
    con = duckdb.connect(str(path))
    settings = load_settings(mining=MINING, recommender=RECOMMENDER)
    as_of = default_backtest_as_of(con, 30)
    card = evaluate_recommender(con, settings, as_of, 30, 5).set_index("recommender")
    # evaluated customers: active before the cut and bought a product in the holdout new to them
    train_end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    new_buyers = con.execute("""
        with before as (select distinct customer_id, product_id from core.fct_sales_line
                        where order_ts >= ?::timestamp - interval 365 day and order_ts < ? and customer_id is not null
                          and (is_return or quantity < 0 or not is_cancelled)),
             active as (select distinct customer_id from core.fct_sales_line where order_ts < ?
                        and order_ts >= ?::timestamp - interval 365 day and customer_id is not null
                        and not is_return and not is_cancelled and quantity > 0 and is_merchandise),
             after as (select distinct customer_id, product_id from core.fct_sales_line
                       where order_ts >= ? and order_ts < ?::timestamp + interval 30 day and customer_id is not null
                         and not is_return and not is_cancelled and quantity > 0 and is_merchandise)
        select count(distinct a.customer_id) from after a join active using (customer_id)
        where not exists (select 1 from before b where b.customer_id = a.customer_id and b.product_id = a.product_id)
    """, [train_end] * 6).fetchall()[0][0]
    assert card.loc["hybrid", "customers_evaluated"] == new_buyers > 0


def test_analytics_run_reuses_the_offers_cut_for_the_card(star_template: Path, tmp_path: Path,
                                                          data_dir: Path) -> None:
    """The card the analytics run writes with the offers' cache is the card computed on its own, and the
    offers' blend cut (as_of_end - blend_days, the card's training cut when holdout_days == blend_days)
    is reused rather than computed again."""
    from warehouse.analytics.recommender import RecommenderCache, refresh_card

    path = tmp_path / "star.duckdb"
    shutil.copy(star_template, path)
    con = duckdb.connect(str(path))
    settings = load_settings(mining=MINING, recommender={**RECOMMENDER, "holdout_days": 30, "blend_days": 30})
    cache = RecommenderCache()
    run_mining(con, settings, AS_OF, recommender_cache=cache)
    refresh_card(con, settings, AS_OF, cache)
    assert cache.hits == 1
    shared = con.execute("select * exclude (blend) from marts.recommender_card order by recommender").df()
    refresh_card(con, settings, AS_OF)
    alone = con.execute("select * exclude (blend) from marts.recommender_card order by recommender").df()
    pd.testing.assert_frame_equal(shared, alone)
    assert (alone["customers_evaluated"] > 0).all()
