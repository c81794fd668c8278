"""The Spark engine: pyspark.ml.fpm.FPGrowth, local mode by default, a cluster by master URL.

Spark mines the frequent itemsets (with their integer ``freq``) and the single-consequent rules; we
take Spark's itemsets up to ``max_len`` and Spark's rules whose itemset fits in ``max_len``, and apply
the same exact integer thresholds and the same metrics as the mlxtend engine (``score_rules``). Spark
is asked for every rule (``minConfidence = 0``) so the multiple-testing family is the same as the
mlxtend engine's; the confidence and lift thresholds are applied afterwards, exactly.

Spark has no ``max_len``: it mines itemsets of every length, which only costs time. Spark's rules
always have one item as consequent, so ``max_consequent`` must be 1 here.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd

from transforms.association import (
    MiningParameterError,
    MiningParams,
    MiningResult,
    score_rules,
    support_count,
)
from transforms.baskets import BasketSet
from transforms.errors import CrmwhError


class SparkEngineError(CrmwhError):
    """Spark cannot be started or used (no Java, bad master URL, unsupported parameter)."""


def spark_session(master: str = "local[2]", app_name: str = "crmwh-mining", driver_memory: str = "2g") -> Any:
    """A Spark session on ``master`` (quiet logs, small shuffle partitions for local mode).

    ``driver_memory`` is ``spark.driver.memory`` (``settings.mining.spark_driver_memory``); it takes
    effect only when this call starts the JVM. Executor settings of a cluster come from Spark's own
    configuration (``$SPARK_CONF_DIR/spark-defaults.conf``)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - pyspark is in the lock
        raise SparkEngineError("the spark engine needs pyspark (pip install 'crmwh[spark]')") from exc
    # Spark's Python workers: this interpreter (same version and packages) unless the user chose one
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        spark = (SparkSession.builder.master(master).appName(app_name)
                 .config("spark.sql.shuffle.partitions", "4")
                 .config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false")
                 .config("spark.driver.memory", driver_memory)
                 .getOrCreate())
    except Exception as exc:  # noqa: BLE001 - Java/py4j failures surface as many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SparkEngineError(f"cannot start Spark on master {master!r}: {first}") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def mine_spark(baskets: BasketSet, params: MiningParams, *, spark: Any = None, master: str = "local[2]",
               fdr_alpha: float = 0.05, driver_memory: str = "2g") -> MiningResult:
    """Frequent itemsets and single-consequent rules with Spark's FPGrowth, exact thresholds."""
    params.validate()
    if params.max_consequent != 1:
        raise MiningParameterError("the spark engine mines single-item consequents only (use --max-consequent 1)")
    n = baskets.n_baskets
    if n == 0:
        raise MiningParameterError("no baskets to mine")
    from pyspark.ml.fpm import FPGrowth
    from pyspark.sql.types import ArrayType, StringType, StructField, StructType

    own = spark is None
    session = spark_session(master, driver_memory=driver_memory) if own else spark
    try:
        with warnings.catch_warnings():
            # pyspark warns about pandas >= 3 on every toPandas(); the columns used here convert fine
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*copy keyword is deprecated.*")
            min_count = support_count(params.min_support, n)
            schema = StructType([StructField("items", ArrayType(StringType()), False)])
            frame = session.createDataFrame([(b,) for b in baskets.to_lists()], schema)
            # Spark keeps itemsets with freq >= ceil(minSupport * N): just below count/N gives min_count.
            model = FPGrowth(itemsCol="items", minSupport=(min_count - 0.5) / n, minConfidence=0.0).fit(frame)
            max_len = params.max_len
            freq = model.freqItemsets.toPandas()
            itemsets = [tuple(sorted(i)) for i in freq["items"]]
            counts = freq["freq"].astype(np.int64).to_numpy()
            keep = np.array([c >= min_count and (max_len is None or len(i) <= max_len)
                             for i, c in zip(itemsets, counts, strict=True)], dtype=bool)
            itemsets = [i for i, k in zip(itemsets, keep, strict=True) if k]
            counts = counts[keep]
            table = pd.DataFrame({"itemset": pd.Series(itemsets, dtype=object),
                                  "length": np.array([len(i) for i in itemsets], dtype=np.int64),
                                  "count": counts})
            table["support"] = table["count"] / n
            table = table.sort_values(["length", "count", "itemset"], ascending=[True, False, True], ignore_index=True)
            count_of = dict(zip(table["itemset"], table["count"].astype(int), strict=True))
            rules = model.associationRules.select("antecedent", "consequent").toPandas()
            ante_l: list[tuple[str, ...]] = []
            cons_l: list[tuple[str, ...]] = []
            for a, c in zip(rules["antecedent"], rules["consequent"], strict=True):
                a_t, c_t = tuple(sorted(a)), tuple(sorted(c))
                if max_len is not None and len(a_t) + len(c_t) > max_len:
                    continue
                ante_l.append(a_t)
                cons_l.append(c_t)
            scored = score_rules(ante_l, cons_l, count_of, n, params.min_confidence, params.min_lift, fdr_alpha)
            return MiningResult(itemsets=table, rules=scored, n_baskets=n, min_count=min_count)
    finally:
        if own:
            session.stop()
