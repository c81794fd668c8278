"""Rule mining as a library: the sales lines mining reads, the engine that mines one basket set (or one
scope after another), the support that adapts on the overall scope, and the ranking of rules fit to offer.

``warehouse.analytics.mining`` (the mining tables and marts) and ``warehouse.analytics.recommender`` (the offers and their
backtest) both build on it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from transforms.association import (
    MiningParameterError,
    MiningResult,
    association_rules,
    frequent_itemsets,
    support_count,
)
from transforms.baskets import BasketSet
from warehouse.foundation.db import read_sql
from warehouse.foundation.settings import MiningSettings, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SupportAdaptation:
    """What the support that adapts did on the overall scope (reported by the run, the CLI and the log)."""

    n_baskets: int
    configured_count: int
    used_count: int
    offerable_rules: int
    min_offer_rules: int
    floor_count: int

    @property
    def lowered(self) -> bool:
        return self.used_count < self.configured_count

    @property
    def support(self) -> Fraction:
        """The support every scope uses: the configured one, or the lowered count over the overall baskets."""
        return Fraction(self.used_count, max(self.n_baskets, 1))

    def message(self) -> str:
        if not self.lowered and self.offerable_rules >= self.min_offer_rules:
            return (f"support {self.configured_count} of {self.n_baskets} baskets gave {self.offerable_rules} "
                    f"offerable rules (floor {self.min_offer_rules})")
        head = (f"the configured support ({self.configured_count} of {self.n_baskets} baskets) gave fewer than "
                f"{self.min_offer_rules} offerable rules")
        if self.lowered:
            head += f"; lowered to {self.used_count} baskets ({float(self.support):.4%})"
        if self.offerable_rules < self.min_offer_rules:
            head += (f"; still {self.offerable_rules} at the floor of {self.floor_count} baskets "
                     f"(settings.mining.adaptive_support_floor, adaptive_min_count)")
        else:
            head += f": {self.offerable_rules} offerable rules"
        return head


def offerable(rules: pd.DataFrame, mining: MiningSettings) -> pd.Series:
    """Rules fit to offer: significant, productive, lift at least the offer minimum, one consequent item."""
    if rules.empty:
        return pd.Series([], dtype=bool)
    return (rules["is_significant"].astype(bool) & rules["is_productive"].astype(bool)
            & (rules["improvement"] > mining.offer_min_improvement) & (rules["lift"] >= mining.offer_min_lift)
            & (rules["consequent_len"] == 1))


def rank_rules(rules: pd.DataFrame, mining: MiningSettings) -> pd.DataFrame:
    """Add ``is_offerable`` and ``rule_rank`` (1 = best by lift_lower) to one scope's rules."""
    rules = rules.sort_values(["lift_lower", "lift", "both_count", "rule_id"],
                              ascending=[False, False, False, True], ignore_index=True)
    rules["is_offerable"] = offerable(rules, mining).to_numpy(dtype=bool) if len(rules) else np.zeros(0, bool)
    rules["rule_rank"] = np.arange(1, len(rules) + 1, dtype=np.int64)
    return rules


def load_sales_lines(con: duckdb.DuckDBPyConnection, as_of_end: dt.datetime) -> pd.DataFrame:
    """Sales lines up to ``as_of_end`` with category, merchandise flag, segment and region."""
    return con.execute(read_sql("analytics/mining_sales_lines.sql"), {"as_of_end": as_of_end}).df()


def item_names(con: duckdb.DuckDBPyConnection, item_level: str) -> pd.DataFrame:
    """item -> readable name (latest product version's name; a category names itself)."""
    if item_level == "category":
        return con.execute("select distinct category as item, category as item_name from core.dim_product "
                           "where category is not null").df()
    return con.execute(
        "select trim(product_id) as item, arg_max(name, coalesce(valid_from, timestamp '1900-01-01')) as item_name "
        "from core.dim_product group by trim(product_id)").df()


class RuleMiner:
    """Mines one scope after another with the configured engine (one Spark session for all)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mining = settings.mining
        self.params = settings.mining.params()
        self._spark: Any = None
        self._own_spark = False

    def min_count(self, n: int, support: float | Fraction | None = None) -> int:
        """Least itemset count of a scope of ``n`` baskets (``support``: the adapted one, if lowered)."""
        return max(support_count(self.params.min_support if support is None else support, n),
                   self.mining.min_itemset_count)

    def mine(self, baskets: BasketSet, min_count: int | None = None) -> MiningResult:
        n = baskets.n_baskets
        if min_count is None:
            min_count = self.min_count(n)
        params = dataclasses.replace(self.params, min_support=min_count)
        if self.mining.engine == "spark":
            from transforms.spark_engine import mine_spark, spark_session

            if self._spark is None:
                from pyspark.sql import SparkSession

                active = SparkSession.getActiveSession()  # a caller's session: use it, leave it running
                self._own_spark = active is None
                self._spark = active or spark_session(self.mining.spark_master,
                                                       driver_memory=self.mining.spark_driver_memory)
            return mine_spark(baskets, params, spark=self._spark, fdr_alpha=self.mining.fdr_alpha)
        itemsets = frequent_itemsets(baskets, min_count, params.max_len, params.counter)
        rules = association_rules(itemsets, n, params.min_confidence, params.min_lift, params.max_consequent,
                                  self.mining.fdr_alpha)
        return MiningResult(itemsets=itemsets, rules=rules, n_baskets=n, min_count=min_count)

    def mine_adapted(self, baskets: BasketSet) -> tuple[MiningResult, SupportAdaptation]:
        """Mine with the configured support; if that gives fewer than ``min_offer_rules`` offerable rules,
        halve the support count until it does or reaches the floor (documented in MiningSettings)."""
        n = baskets.n_baskets
        configured = self.min_count(n)
        floor = min(configured, max(self.mining.adaptive_min_count,
                                    support_count(self.mining.adaptive_support_floor, n)))
        count = configured
        result = self.mine(baskets, count)
        while int(offerable(result.rules, self.mining).sum()) < self.mining.min_offer_rules and count > floor:
            count = max(floor, count // 2)
            result = self.mine(baskets, count)
        adaptation = SupportAdaptation(n, configured, count, int(offerable(result.rules, self.mining).sum()),
                                       self.mining.min_offer_rules, floor)
        if adaptation.lowered or adaptation.offerable_rules < adaptation.min_offer_rules:
            log.warning("mining: %s", adaptation.message())
        return result, adaptation

    def close(self) -> None:
        if self._spark is not None and self._own_spark:
            self._spark.stop()
        self._spark = None


def mine_basket_set(settings: Settings, baskets: BasketSet) -> MiningResult:
    """Mine one basket set (``crmwh mine --baskets``) with the configured engine and thresholds, the same
    way the warehouse mines a scope (no per-scope floor: the configured support as given)."""
    if baskets.n_baskets == 0:
        raise MiningParameterError("no baskets to mine")
    miner = RuleMiner(settings)
    try:
        return miner.mine(baskets, support_count(miner.params.min_support, baskets.n_baskets))
    finally:
        miner.close()
