"""Market-basket mining on the warehouse: itemsets, rules, drift and the cross-sell marts.

``run_mining(con, settings, as_of)`` reads ``core.fct_sales_line`` (with ``core.dim_product`` and
``core.dim_customer``) up to the end of the as-of day and writes, each replaced as a whole:

* ``analytics.basket_itemsets``, ``analytics.association_rules``: per scope. A scope is a segment
  (``segment_dimension``/``segment_value``; ``all``/``all`` for every basket) and a window
  (``all``: all history up to as-of; ``current``: the last ``window_days``; ``previous``: the
  ``window_days`` before). Segments (dimensions in ``settings.mining.segment_dimensions``) are mined on
  the ``all`` window; segments with fewer than ``min_segment_baskets`` baskets are skipped.
* ``analytics.rule_drift``: overall rules of the current window against the previous one.
* ``marts.cross_sell_rules``, ``marts.cross_sell_recommendations``, ``marts.product_affinity``.

Every table and column carries a DuckDB comment (the data dictionary is built from them).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.association import (
    pair_affinity,
)
from transforms.baskets import BasketSet, baskets_from_sales_lines
from warehouse.analytics.recommender import RecommenderCache, write_recommendations
from warehouse.analytics.rule_miner import (
    RuleMiner,
    SupportAdaptation,
    item_names,
    load_sales_lines,
    rank_rules,
)
from warehouse.foundation.db import apply_comments, column_types, table_exists, transaction
from warehouse.foundation.settings import Settings

log = logging.getLogger(__name__)

ALL = "all"

SCOPE_DOCS: dict[str, str] = {
    "as_of": "as-of date of the mining run (windows end at the end of this day)",
    "segment_dimension": "customer attribute the baskets were split on: all (every basket), segment, value_tier, region",
    "segment_value": "value of segment_dimension (all for every basket)",
    "window_name": "all (history up to as_of), current (last window_days) or previous (the window_days before)",
    "window_start": "first order timestamp of the window (inclusive; NULL for all history)",
    "window_end": "end of the window (exclusive)",
    "item_level": "what an item is: product (product_id) or category",
    "n_baskets": "baskets (orders with at least one merchandise item) in the scope",
}

RULE_METRIC_DOCS: dict[str, str] = {
    "rule_id": "stable id of the rule from its items (same rule, same id, in every scope and run)",
    "antecedent": "items of the left-hand side (product ids or categories), sorted",
    "consequent": "items of the right-hand side, sorted",
    "antecedent_len": "number of antecedent items",
    "consequent_len": "number of consequent items",
    "antecedent_count": "baskets holding every antecedent item",
    "consequent_count": "baskets holding every consequent item",
    "both_count": "baskets holding every item of the rule",
    "support": "both_count / n_baskets",
    "confidence": "both_count / antecedent_count",
    "lift": "confidence / (consequent_count / n_baskets); above 1 means bought together more than by chance",
    "leverage": "support - antecedent support * consequent support",
    "conviction": "(1 - consequent support) / (1 - confidence); NULL when confidence is 1 (infinite)",
    "zhangs_metric": "Zhang's metric in [-1, 1] (0 when its denominator is 0, as mlxtend)",
    "jaccard": "both_count / (antecedent_count + consequent_count - both_count)",
    "fisher_p": "one-sided Fisher exact test p-value (association greater than independence)",
    "fisher_q": "Benjamini-Hochberg adjusted p-value over every candidate rule of the scope",
    "is_significant": "fisher_q <= settings.mining.fdr_alpha",
    "is_redundant": "a rule with the same consequent and a proper subset of the antecedent has at least this confidence",
    "improvement": "Webb's improvement: confidence minus the best confidence of any more general rule with the same "
                   "consequent (the empty antecedent's confidence is the consequent's support)",
    "productivity_p": "Webb's productivity test: largest one-sided Fisher p-value of the rule against each "
                      "rule with one antecedent item fewer (fisher_p for a one-item antecedent; NULL when the rule is "
                      "redundant or no better than a generalization, so not productive anyway)",
    "is_productive": "better than every more general rule: improvement > 0 (integer counts), not redundant and "
                     "productivity_p <= settings.mining.fdr_alpha",
    "lift_lower": "ranking measure: lower end of the 95% Wilson interval of the confidence / consequent support",
    "is_offerable": "fit to offer: significant, productive (improvement above settings.mining.offer_min_improvement), "
                    "lift >= settings.mining.offer_min_lift, one consequent item; the recommender uses only these",
    "rule_rank": "1 = best rule of its scope by lift_lower (ties: lift, both_count, rule_id)",
}

TABLE_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "analytics.basket_itemsets": (
        "grain: one row per frequent itemset per scope (segment, window); frequent itemsets of the baskets",
        {**SCOPE_DOCS,
         "itemset": "items of the itemset, sorted",
         "length": "number of items",
         "count": "baskets holding every item",
         "support": "count / n_baskets",
         "min_count": "least basket count an itemset needed in this scope (exact, inclusive)"},
    ),
    "analytics.association_rules": (
        "grain: one row per rule per scope (segment, window); association rules with exact thresholds",
        {**SCOPE_DOCS, **RULE_METRIC_DOCS,
         "rule_key": "rule_id|segment_dimension|segment_value|window_name: unique per row",
         "engine": "engine that mined the itemsets: mlxtend or spark",
         "min_count": "least basket count an itemset needed in this scope (exact, inclusive)"},
    ),
    "analytics.rule_drift": (
        "grain: one row per overall rule present in the current or the previous window; how rules moved",
        {"as_of": SCOPE_DOCS["as_of"], "rule_id": RULE_METRIC_DOCS["rule_id"],
         "antecedent": RULE_METRIC_DOCS["antecedent"], "consequent": RULE_METRIC_DOCS["consequent"],
         "status": "appeared (only in current), disappeared (only in previous), lift_changed, unchanged",
         "lift_previous": "lift in the previous window (NULL if the rule was not found there)",
         "lift_current": "lift in the current window (NULL if the rule is not found there)",
         "lift_ratio": "lift_current / lift_previous",
         "confidence_previous": "confidence in the previous window",
         "confidence_current": "confidence in the current window",
         "both_count_previous": "baskets with every item of the rule in the previous window",
         "both_count_current": "baskets with every item of the rule in the current window",
         "previous_start": "start of the previous window", "current_start": "start of the current window",
         "current_end": "end of the current window (exclusive)"},
    ),
    "marts.cross_sell_rules": (
        "grain: one row per rule per scope (segment, window); cross-sell rules with readable item names",
        {**SCOPE_DOCS, **RULE_METRIC_DOCS,
         "rule_key": "rule_id|segment_dimension|segment_value|window_name: unique per row",
         "engine": "engine that mined the itemsets: mlxtend or spark",
         "min_count": "least basket count an itemset needed in this scope (exact, inclusive)",
         "antecedent_names": "readable names of the antecedent items",
         "consequent_names": "readable names of the consequent items",
         "rule_text": "the rule in words: names of antecedent => names of consequent"},
    ),
    "marts.product_affinity": (
        "grain: one row per product pair bought together in at least affinity_min_count baskets; for merchandisers",
        {"product_a": "first product id (product_a < product_b)", "product_b": "second product id",
         "product_a_name": "readable name of product_a", "product_b_name": "readable name of product_b",
         "pair_count": "baskets holding both products", "count_a": "baskets holding product_a",
         "count_b": "baskets holding product_b", "n_baskets": "baskets mined (all history up to as_of)",
         "support": "pair_count / n_baskets", "confidence_a_to_b": "pair_count / count_a",
         "confidence_b_to_a": "pair_count / count_b", "lift": "pair_count * n_baskets / (count_a * count_b)",
         "jaccard": "pair_count / (count_a + count_b - pair_count)", "as_of": SCOPE_DOCS["as_of"]},
    ),
}


_SCOPE_TYPES = ("as_of date, segment_dimension varchar, segment_value varchar, window_name varchar, "
                "window_start timestamp, window_end timestamp, item_level varchar")
_RULE_TYPES = ("rule_id varchar, antecedent varchar[], consequent varchar[], antecedent_len integer, "
               "consequent_len integer, antecedent_count bigint, consequent_count bigint, both_count bigint, "
               "support double, confidence double, lift double, leverage double, conviction double, "
               "zhangs_metric double, jaccard double, fisher_p double, fisher_q double, is_significant boolean, "
               "is_redundant boolean, improvement double, productivity_p double, is_productive boolean, "
               "lift_lower double, "
               "is_offerable boolean, rule_rank bigint, engine varchar, min_count bigint, n_baskets bigint")
# Column types of every table written here (stable even when a run finds nothing).
TABLE_TYPES: dict[str, str] = {
    "analytics.basket_itemsets": f"{_SCOPE_TYPES}, itemset varchar[], length integer, count bigint, "
                                 "support double, min_count bigint, n_baskets bigint",
    "analytics.association_rules": f"rule_key varchar, {_SCOPE_TYPES}, {_RULE_TYPES}",
    "analytics.rule_drift": "as_of date, rule_id varchar, antecedent varchar[], consequent varchar[], status varchar, "
                            "lift_previous double, lift_current double, lift_ratio double, "
                            "confidence_previous double, confidence_current double, both_count_previous bigint, "
                            "both_count_current bigint, previous_start timestamp, current_start timestamp, "
                            "current_end timestamp",
    "marts.cross_sell_rules": f"rule_key varchar, {_SCOPE_TYPES}, {_RULE_TYPES}, antecedent_names varchar[], "
                              "consequent_names varchar[], rule_text varchar",
    "marts.product_affinity": "product_a varchar, product_b varchar, product_a_name varchar, product_b_name varchar, "
                              "pair_count bigint, count_a bigint, count_b bigint, n_baskets bigint, support double, "
                              "confidence_a_to_b double, confidence_b_to_a double, lift double, jaccard double, "
                              "as_of date",
}


@dataclass(frozen=True)
class Scope:
    segment_dimension: str
    segment_value: str
    window_name: str
    window_start: dt.datetime | None
    window_end: dt.datetime


def _end_of_day(as_of: dt.date | dt.datetime | str) -> tuple[dt.date, dt.datetime]:
    if isinstance(as_of, str):
        as_of = dt.date.fromisoformat(as_of[:10])
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    return as_of, dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())


def _value_tiers(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame | None:
    """customer_id -> value_tier from analytics.customer_segments (the churn area), if it is there.

    The table holds one snapshot per as-of date: the latest snapshot on or before ``as_of`` is used
    (mining runs before churn in crm_analytics, so that is usually the previous run's)."""
    if not table_exists(con, "analytics.customer_segments"):
        return None
    cols = set(column_types(con, "analytics.customer_segments"))
    if not {"customer_id", "value_tier"} <= cols:
        return None
    if "as_of" in cols:
        return con.execute(
            "select customer_id, arg_max(value_tier, as_of) as value_tier from analytics.customer_segments "
            "where as_of <= ? group by customer_id", [as_of]).df()
    return con.execute("select customer_id, any_value(value_tier) as value_tier "
                       "from analytics.customer_segments group by customer_id").df()


def _scope_frame(scope: Scope, frame: pd.DataFrame, item_level: str, n: int, as_of: dt.date) -> pd.DataFrame:
    frame.insert(0, "as_of", as_of)
    frame.insert(1, "segment_dimension", scope.segment_dimension)
    frame.insert(2, "segment_value", scope.segment_value)
    frame.insert(3, "window_name", scope.window_name)
    frame.insert(4, "window_start", pd.Series([scope.window_start] * len(frame), dtype="datetime64[us]"))
    frame.insert(5, "window_end", pd.Series([scope.window_end] * len(frame), dtype="datetime64[us]"))
    frame.insert(6, "item_level", item_level)
    frame["n_baskets"] = n
    return frame


def _list_column(values: pd.Series) -> pa.Array:
    return pa.array([list(v) for v in values], type=pa.list_(pa.string()))


def _to_arrow(frame: pd.DataFrame, list_columns: tuple[str, ...]) -> pa.Table:
    plain = frame.drop(columns=[c for c in list_columns if c in frame.columns])
    table = pa.Table.from_pandas(plain, preserve_index=False)
    for name in list_columns:
        if name in frame.columns:
            table = table.append_column(name, _list_column(frame[name]))
    return table.select([c for c in frame.columns])


def _write(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame | pa.Table,
           list_columns: tuple[str, ...] = ()) -> int:
    data = frame if isinstance(frame, pa.Table) else _to_arrow(frame, list_columns)
    con.register("_mining_frame", data)
    try:
        con.execute(f"create or replace table {table} ({TABLE_TYPES[table]})")
        con.execute(f"insert into {table} by name select * from _mining_frame")
    finally:
        con.unregister("_mining_frame")
    return int(con.execute(f"select count(*) from {table}").fetchall()[0][0])


def _scopes(attrs: pd.DataFrame, settings: Settings, as_of_end: dt.datetime) -> list[tuple[Scope, np.ndarray]]:
    """(scope, boolean mask over baskets) for every scope to mine; ``attrs`` has one row per basket."""
    mining = settings.mining
    window = dt.timedelta(days=mining.window_days)
    ts = pd.to_datetime(attrs["order_ts"])
    everything = np.ones(len(attrs), dtype=bool)
    current_start, previous_start = as_of_end - window, as_of_end - 2 * window
    scopes = [
        (Scope(ALL, ALL, ALL, None, as_of_end), everything),
        (Scope(ALL, ALL, "current", current_start, as_of_end), (ts >= current_start).to_numpy()),
        (Scope(ALL, ALL, "previous", previous_start, current_start),
         ((ts >= previous_start) & (ts < current_start)).to_numpy()),
    ]
    for dimension in mining.segment_dimensions:
        if dimension not in attrs.columns:
            continue
        values = attrs[dimension].astype("string").str.strip()
        for value in sorted(v for v in values.dropna().unique() if v):
            scopes.append((Scope(dimension, str(value), ALL, None, as_of_end),
                           (values == value).fillna(False).to_numpy(dtype=bool)))
    return scopes


def basket_attributes(lines: pd.DataFrame, baskets: BasketSet, dimensions: tuple[str, ...]) -> pd.DataFrame:
    """One row per basket (aligned with ``baskets.basket_ids``): order time and segment attributes."""
    columns = ["order_ts", *[d for d in dimensions if d in lines.columns]]
    first = lines.groupby("order_id", sort=False)[columns].first()
    return first.reindex(pd.Index(baskets.basket_ids, name="order_id")).reset_index(drop=True)


def run_mining(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date | dt.datetime | str,
               recommender_cache: RecommenderCache | None = None) -> dict[str, int]:
    """Mine the warehouse as of a date and replace the mining tables and marts. Returns row counts.
    ``recommender_cache`` keeps what the offers computed for a backtest of the same run to reuse."""
    mining = settings.mining
    as_of_date, as_of_end = _end_of_day(as_of)
    lines = load_sales_lines(con, as_of_end)
    tiers = _value_tiers(con, as_of_date)
    if tiers is not None and "customer_id" in lines.columns:
        lines = lines.merge(tiers, on="customer_id", how="left")
    names = item_names(con, mining.item_level)
    name_of = dict(zip(names["item"], names["item_name"], strict=True))

    itemset_frames: list[pd.DataFrame] = []
    rule_frames: list[pd.DataFrame] = []
    stats: dict[str, int] = {"sales_lines": len(lines), "scopes_mined": 0, "scopes_skipped": 0}
    overall: dict[str, pd.DataFrame] = {}
    miner = RuleMiner(settings)
    all_baskets = baskets_from_sales_lines(lines, mining.non_merchandise_codes, mining.item_level)
    stats.update({f"lines_{k}": v for k, v in all_baskets.stats.items() if k.endswith("_lines")})
    stats["baskets"] = all_baskets.n_baskets
    product_baskets = all_baskets if mining.item_level == "product" else baskets_from_sales_lines(
        lines, mining.non_merchandise_codes, "product")
    attrs = basket_attributes(lines, all_baskets, mining.segment_dimensions)
    adaptation: SupportAdaptation | None = None
    try:
        for scope, mask in _scopes(attrs, settings, as_of_end):
            baskets = all_baskets if mask.all() else all_baskets.subset(mask)
            n = baskets.n_baskets
            small = scope.segment_dimension != ALL and n < mining.min_segment_baskets
            if n == 0 or small:
                stats["scopes_skipped"] += 1
                if scope.segment_dimension == ALL:
                    overall[scope.window_name] = pd.DataFrame()
                continue
            if adaptation is None:  # the first scope is the overall one: it decides the support
                result, adaptation = miner.mine_adapted(baskets)
            else:
                result = miner.mine(baskets, miner.min_count(n, adaptation.support if adaptation.lowered else None))
            stats["scopes_mined"] += 1
            items = result.itemsets.copy()
            items["min_count"] = result.min_count
            itemset_frames.append(_scope_frame(scope, items, mining.item_level, n, as_of_date))
            rules = rank_rules(result.rules, mining)
            rules["engine"] = mining.engine
            rules["min_count"] = result.min_count
            rules = _scope_frame(scope, rules.drop(columns=["n_baskets"]), mining.item_level, n, as_of_date)
            rules.insert(0, "rule_key", rules["rule_id"] + "|" + scope.segment_dimension + "|"
                         + scope.segment_value + "|" + scope.window_name)
            rule_frames.append(rules)
            if scope.segment_dimension == ALL:
                overall[scope.window_name] = rules
    finally:
        miner.close()

    itemsets = pd.concat(itemset_frames, ignore_index=True) if itemset_frames else _empty_itemsets()
    rules = pd.concat(rule_frames, ignore_index=True) if rule_frames else _empty_rules()
    rules = rules.astype({"conviction": "float64"})
    drift = rule_drift(overall.get("previous"), overall.get("current"), mining.drift_lift_change)
    drift.insert(0, "as_of", as_of_date)
    window = dt.timedelta(days=mining.window_days)
    drift["previous_start"] = pd.Timestamp(as_of_end - 2 * window)
    drift["current_start"] = pd.Timestamp(as_of_end - window)
    drift["current_end"] = pd.Timestamp(as_of_end)

    affinity = pair_affinity(product_baskets, mining.affinity_min_count) if product_baskets is not None and \
        product_baskets.n_baskets else pd.DataFrame(columns=["item_a", "item_b", "pair_count", "count_a", "count_b",
                                                              "n_baskets", "support", "confidence_a_to_b",
                                                              "confidence_b_to_a", "lift", "jaccard"])
    product_name = dict(zip(*_product_name_arrays(con), strict=True))
    affinity = affinity.rename(columns={"item_a": "product_a", "item_b": "product_b"})
    affinity.insert(2, "product_a_name", affinity["product_a"].map(product_name))
    affinity.insert(3, "product_b_name", affinity["product_b"].map(product_name))
    affinity["as_of"] = as_of_date

    named = rules.copy()
    named["antecedent_names"] = [[name_of.get(i, i) for i in a] for a in named["antecedent"]]
    named["consequent_names"] = [[name_of.get(i, i) for i in c] for c in named["consequent"]]
    named["rule_text"] = [" + ".join(a) + " => " + " + ".join(c)
                          for a, c in zip(named["antecedent_names"], named["consequent_names"], strict=True)]

    lists = ("antecedent", "consequent", "itemset", "antecedent_names", "consequent_names")
    counts: dict[str, int] = {}
    with transaction(con):
        counts["analytics.basket_itemsets"] = _write(con, "analytics.basket_itemsets", itemsets, lists)
        counts["analytics.association_rules"] = _write(con, "analytics.association_rules", rules, lists)
        counts["analytics.rule_drift"] = _write(con, "analytics.rule_drift", drift, lists)
        counts["marts.cross_sell_rules"] = _write(con, "marts.cross_sell_rules", named, lists)
        counts["marts.product_affinity"] = _write(con, "marts.product_affinity", affinity, lists)
        for table in TABLE_DOCS:
            apply_comments(con, table, *TABLE_DOCS[table])
        counts["marts.cross_sell_recommendations"], offers = _recommendations(con, settings, as_of_end, named,
                                                                              recommender_cache)
    stats.update({k: int(v) for k, v in offers.items() if isinstance(v, (int, np.integer))})
    if adaptation is not None:
        stats.update(min_count_configured=adaptation.configured_count, min_count_used=adaptation.used_count,
                     support_lowered=int(adaptation.lowered), offerable_rules=adaptation.offerable_rules)
    counts.update(stats)
    log.info("mining as of %s: %s", as_of_date, counts)
    return counts


def _product_name_arrays(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
    frame = item_names(con, "product")
    return frame["item"].tolist(), frame["item_name"].tolist()


def _recommendations(con: duckdb.DuckDBPyConnection, settings: Settings, as_of_end: dt.datetime,
                     rules: pd.DataFrame, cache: RecommenderCache | None = None) -> tuple[int, dict[str, Any]]:
    """marts.cross_sell_recommendations from the hybrid recommender (``warehouse.analytics.recommender``)."""
    overall = rules[(rules["segment_dimension"] == ALL) & (rules["window_name"] == ALL)
                    & (rules["item_level"] == "product")] if len(rules) else rules
    return write_recommendations(con, settings, as_of_end, overall, cache)


def rule_drift(previous: pd.DataFrame | None, current: pd.DataFrame | None, lift_change: float) -> pd.DataFrame:
    """Rules of the previous and current windows side by side with a status."""
    cols = ["rule_id", "antecedent", "consequent", "lift", "confidence", "both_count"]
    prev = previous[cols] if previous is not None and len(previous) else pd.DataFrame(columns=cols)
    cur = current[cols] if current is not None and len(current) else pd.DataFrame(columns=cols)
    merged = prev.merge(cur, on="rule_id", how="outer", suffixes=("_previous", "_current"))
    merged["antecedent"] = merged["antecedent_current"].where(merged["antecedent_current"].notna(),
                                                              merged["antecedent_previous"])
    merged["consequent"] = merged["consequent_current"].where(merged["consequent_current"].notna(),
                                                              merged["consequent_previous"])
    lift_prev = pd.to_numeric(merged["lift_previous"], errors="coerce")
    lift_cur = pd.to_numeric(merged["lift_current"], errors="coerce")
    ratio = lift_cur / lift_prev
    status = np.where(lift_prev.isna(), "appeared",
                      np.where(lift_cur.isna(), "disappeared",
                               np.where((ratio - 1).abs() >= lift_change, "lift_changed", "unchanged")))
    out = pd.DataFrame({
        "rule_id": merged["rule_id"].astype(str), "antecedent": merged["antecedent"],
        "consequent": merged["consequent"], "status": status,
        "lift_previous": lift_prev.astype("float64"), "lift_current": lift_cur.astype("float64"),
        "lift_ratio": ratio.astype("float64"),
        "confidence_previous": pd.to_numeric(merged["confidence_previous"], errors="coerce").astype("float64"),
        "confidence_current": pd.to_numeric(merged["confidence_current"], errors="coerce").astype("float64"),
        "both_count_previous": pd.to_numeric(merged["both_count_previous"], errors="coerce").astype("Int64"),
        "both_count_current": pd.to_numeric(merged["both_count_current"], errors="coerce").astype("Int64"),
    })
    order = {"appeared": 0, "disappeared": 1, "lift_changed": 2, "unchanged": 3}
    out["_o"] = out["status"].map(order)
    return out.sort_values(["_o", "rule_id"], ignore_index=True).drop(columns="_o")


def _empty_itemsets() -> pd.DataFrame:
    frame = pd.DataFrame({"itemset": pd.Series([], dtype=object), "length": pd.Series([], dtype="int64"),
                          "count": pd.Series([], dtype="int64"), "support": pd.Series([], dtype="float64"),
                          "min_count": pd.Series([], dtype="int64")})
    return _scope_frame(Scope(ALL, ALL, ALL, None, dt.datetime(1970, 1, 1)), frame, "product", 0, dt.date(1970, 1, 1))


def _empty_rules() -> pd.DataFrame:
    from transforms.association import RULE_COLUMNS
    dtypes = {"antecedent": object, "consequent": object, "rule_id": "string", "is_significant": bool,
              "is_redundant": bool, "is_productive": bool}
    frame = pd.DataFrame({c: pd.Series([], dtype=dtypes.get(c, "float64")) for c in RULE_COLUMNS if c != "n_baskets"})
    for c in ("antecedent_len", "consequent_len", "antecedent_count", "consequent_count", "both_count"):
        frame[c] = frame[c].astype("int64")
    frame["is_offerable"] = pd.Series([], dtype=bool)
    frame["rule_rank"] = pd.Series([], dtype="int64")
    frame["engine"] = pd.Series([], dtype="string")
    frame["min_count"] = pd.Series([], dtype="int64")
    frame = _scope_frame(Scope(ALL, ALL, ALL, None, dt.datetime(1970, 1, 1)), frame, "product", 0, dt.date(1970, 1, 1))
    frame.insert(0, "rule_key", pd.Series([], dtype="string"))
    return frame
