"""The Spark engine (pyspark FPGrowth, local mode) gives the mlxtend engine's itemsets and rules."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from transforms.association import MiningParams, mine
from transforms.baskets import baskets_from_lists
from transforms.synthetic_baskets import synthesize_baskets

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if shutil.which("java") is None:
        pytest.skip("the spark engine needs Java (no `java` on PATH)")
    pytest.importorskip("pyspark")
    from transforms.spark_engine import spark_session

    session = spark_session("local[2]", app_name="crmwh-parity-test")
    yield session
    session.stop()


def _by_rule(rules: pd.DataFrame) -> pd.DataFrame:
    return rules.set_index("rule_id").sort_index()


CASES = {
    "hand": (lambda: baskets_from_lists([["A", "B", "C"], ["A", "B"], ["A", "C"], ["B", "C"], ["A", "B", "C", "D"],
                                         ["D"], ["A", "B"], ["C"], ["A", "B", "D"], ["B"]]),
             MiningParams(min_support=0.2, min_confidence=0.0, min_lift=0.0, max_len=3)),
    "edge": (lambda: baskets_from_lists([["A", "B"]] * 8 + [["A"]] * 2 + [["B"]] * 5 + [["C"]] * 5),
             MiningParams(min_support=0.05, min_lift=0.0, min_confidence=0.8, max_len=2)),
    "bundles": (lambda: synthesize_baskets(500, n_products=40, mean_size=4, n_bundles=3, seed=9).baskets,
                MiningParams(min_support=0.02, min_confidence=0.05, min_lift=1.0, max_len=3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_spark_matches_mlxtend(spark: Any, case: str) -> None:
    from transforms.spark_engine import mine_spark

    make, params = CASES[case]
    baskets = make()
    ours = mine(baskets, params)
    theirs = mine_spark(baskets, params, spark=spark)
    assert ours.min_count == theirs.min_count
    assert dict(zip(ours.itemsets["itemset"], ours.itemsets["count"], strict=True)) == \
        dict(zip(theirs.itemsets["itemset"], theirs.itemsets["count"], strict=True))
    a, b = _by_rule(ours.rules), _by_rule(theirs.rules)
    assert list(a.index) == list(b.index) and len(a) > 0
    for column in ("antecedent", "consequent", "antecedent_count", "consequent_count", "both_count", "n_baskets",
                   "is_redundant", "is_significant"):
        assert a[column].tolist() == b[column].tolist(), column
    for column in ("support", "confidence", "lift", "leverage", "zhangs_metric", "jaccard", "fisher_p", "fisher_q"):
        pd.testing.assert_series_equal(a[column].astype(float), b[column].astype(float), rtol=1e-12, check_names=False)
    if case == "edge":
        assert (("A",), ("B",)) in set(zip(b["antecedent"], b["consequent"], strict=True))  # 8 of 10 against 0.8


def test_warehouse_mining_with_the_spark_engine(spark: Any, tmp_path: Path, data_dir: Path) -> None:
    from mining_support import AS_OF, build_star

    from warehouse.analytics.mining import run_mining
    from warehouse.foundation.settings import load_settings

    mining = {"min_support": 0.02, "min_confidence": 0.1, "segment_dimensions": "segment",
              "min_segment_baskets": 100}
    star = build_star(tmp_path / "star.duckdb", n_orders=600)
    results = {}
    for engine in ("mlxtend", "spark"):
        con = duckdb.connect(str(star))
        run_mining(con, load_settings(mining={**mining, "engine": engine}), AS_OF)
        results[engine] = con.execute(
            "select rule_key, antecedent_count, consequent_count, both_count, n_baskets, is_redundant, engine "
            "from analytics.association_rules order by rule_key").fetchall()
        con.close()
    assert results["spark"] and len(results["spark"]) == len(results["mlxtend"])
    assert [r[:-1] for r in results["spark"]] == [r[:-1] for r in results["mlxtend"]]
    assert {r[-1] for r in results["spark"]} == {"spark"}
    assert spark.sparkContext._jsc is not None  # the module's session is still running
