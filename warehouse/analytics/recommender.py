"""The hybrid cross-sell recommender on the warehouse: offers for every active customer, and their backtest.

``write_recommendations(con, settings, as_of_end, rules)`` replaces ``marts.cross_sell_recommendations``
(called by ``warehouse.analytics.mining.run_mining`` with the overall scope's offerable rules). The computations
are ``transforms.recommender``; this module reads ``core`` (through the mining input query), fits the
blend out of time, writes readable reasons and the mart.

``evaluate_recommender(con, settings, as_of, holdout_days)`` is the backtest behind ``crmwh evaluate``
and ``marts.recommender_card``: everything is fitted with data up to the end of ``as_of`` (rules
included, mined again at that date with the same settings) and scored against what the active
customers bought in the next ``holdout_days`` days that they had not bought or returned in the
look-back, beside the popularity and co-purchase baselines on the same customers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from transforms import recommender as rec
from transforms.baskets import baskets_from_sales_lines, usable_lines
from transforms.evaluation import bootstrap_ci, ranking_metrics
from warehouse.analytics.rule_miner import RuleMiner, item_names, load_sales_lines, rank_rules
from warehouse.foundation.settings import Settings, replace_settings

log = logging.getLogger(__name__)

SOURCE_LABELS = dict(zip(rec.SOURCES, rec.SOURCES, strict=True))
RECOMMENDATION_COLUMNS: tuple[str, ...] = (
    "customer_id", "recommendation_rank", "product_id", "product_name", "score", "source", "lift", "rule_id",
    "reason", "as_of_end")
RECOMMENDATION_TYPES = ("customer_id varchar, recommendation_rank integer, product_id varchar, product_name varchar, "
                        "score double, source varchar, lift double, rule_id varchar, reason varchar, "
                        "as_of_end timestamp")
RECOMMENDATION_DOCS: tuple[str, dict[str, str]] = (
    "grain: one row per active customer per offered product (N per customer); next products to offer, "
    "from basket rules, sequences, co-purchase and popularity",
    {"customer_id": "customer business id (no names or contact data)",
     "recommendation_rank": "1 = best offer for this customer",
     "product_id": "offered product (not bought in the look-back, not returned)",
     "product_name": "readable product name",
     "score": "estimated probability that the customer buys the product in the next blend_days days (the blend "
              "of the four sources fitted out of time; popularity fills have the blend's score of popularity alone)",
     "source": "where the offer comes from: basket_rules, sequence, co_purchase, category_taste or popularity (the "
               "personal source contributing most to the score; popularity when none adds to it)",
     "lift": "lift of the basket rule behind a basket_rules offer (NULL for other sources)",
     "rule_id": "the rule behind a basket_rules offer (marts.cross_sell_rules.rule_id, overall scope; NULL otherwise)",
     "reason": "one line a marketer can read, naming the source and the evidence",
     "as_of_end": "end (exclusive) of the look-back window the customer's purchases were read from"})

CARD_TYPES = ("recommender varchar, is_published boolean, as_of date, train_end timestamp, holdout_start timestamp, "
              "holdout_end timestamp, k integer, customers_active bigint, customers_evaluated bigint, "
              "hit_rate double, hit_rate_ci_low double, hit_rate_ci_high double, precision_at_k double, "
              "recall_at_k double, customer_coverage double, catalogue_coverage double, top3_offer_share double, "
              "hit_rate_vs_popularity double, ratio_ci_low double, ratio_ci_high double, offers bigint, "
              "bootstrap_samples integer, blend varchar")
CARD_DOCS: tuple[str, dict[str, str]] = (
    "grain: one row per recommender per backtest; out-of-time evaluation of the cross-sell offers against "
    "the popularity and co-purchase baselines on the same customers",
    {"recommender": "hybrid (what marts.cross_sell_recommendations publishes), popularity (the most popular "
                    "products the customer has not bought) or co_purchase (item-to-item over customers alone)",
     "is_published": "true for the recommender whose offers are published",
     "as_of": "training cut: everything is fitted with data up to the end of this day",
     "train_end": "end (exclusive) of the training data",
     "holdout_start": "first instant of the holdout (= train_end)", "holdout_end": "end (exclusive) of the holdout",
     "k": "offers per customer scored (hit rate@k, precision@k, recall@k)",
     "customers_active": "customers who bought in the look-back before train_end (all get offers)",
     "customers_evaluated": "active customers who bought at least one product in the holdout that they had not "
                            "bought or returned in the look-back (the rows the metrics average over)",
     "hit_rate": "share of evaluated customers with at least one of their k offers bought in the holdout",
     "hit_rate_ci_low": "2.5% end of the bootstrap interval of hit_rate (customers resampled)",
     "hit_rate_ci_high": "97.5% end of the bootstrap interval of hit_rate",
     "precision_at_k": "mean share of the k offers bought in the holdout", "recall_at_k":
         "mean share of the customer's new holdout products among the k offers",
     "customer_coverage": "share of active customers given at least one offer",
     "catalogue_coverage": "distinct products offered / distinct products bought in the training history",
     "top3_offer_share": "share of all offers taken by the three most offered products (diversity)",
     "hit_rate_vs_popularity": "hit_rate / the popularity baseline's hit_rate on the same customers",
     "ratio_ci_low": "2.5% end of the paired bootstrap interval of hit_rate_vs_popularity",
     "ratio_ci_high": "97.5% end of the paired bootstrap interval of hit_rate_vs_popularity",
     "offers": "offer rows made", "bootstrap_samples": "bootstrap resamples behind the intervals",
     "blend": "the hybrid's blend as JSON: the model (gradient boosting, or fixed weights per source when too few purchases to fit), its fit rows and purchases"})


def params_from(settings: Settings) -> rec.RecommenderParams:
    r = settings.recommender
    return rec.RecommenderParams(
        offers=r.offers_per_customer, item_neighbours=r.item_neighbours, min_co_customers=r.min_co_customers,
        sequence_days=r.sequence_days, sequence_min_customers=r.sequence_min_customers,
        sequence_min_lift=r.sequence_min_lift, candidates=r.candidates_per_source,
        max_product_share=r.max_product_share,
        fixed_weights=(r.weight_rules, r.weight_sequence, r.weight_item, r.weight_category, r.weight_popularity),
        min_fit_positives=r.min_fit_positives, fit_max_rows=r.blend_fit_max_rows,
        fit_positive_share=r.blend_fit_positive_share, blend_max_iter=r.blend_max_iter,
        blend_max_bins=r.blend_max_bins, threads=r.threads)


@dataclass
class History:
    """Usable purchases, returns and customer segments read once from the warehouse."""

    purchases: rec.Purchases
    returns: pd.DataFrame  # customer_id, product_id, order_ts
    segments: pd.Series  # customer_id -> latest segment
    items: np.ndarray
    item_category: pd.Series  # product id -> latest category
    lines: pd.DataFrame  # the mining input lines (for re-mining the rules at an earlier date)


def read_history(con: duckdb.DuckDBPyConnection, settings: Settings, end: dt.datetime) -> History:

    lines = load_sales_lines(con, end)
    keep, item, _ = usable_lines(lines, settings.mining.non_merchandise_codes, "product")
    has_customer = lines["customer_id"].notna().to_numpy()
    bought = lines[keep & has_customer].assign(product_id=item[keep & has_customer].to_numpy())
    purchases = rec.Purchases.from_frame(bought)
    returned_mask = (lines["is_return"].fillna(False).astype(bool)
                     | (pd.to_numeric(lines["quantity"], errors="coerce") < 0)).to_numpy() & has_customer
    returns = lines.loc[returned_mask, ["customer_id", "product_id", "order_ts"]].copy()
    returns["product_id"] = returns["product_id"].astype("string").str.strip()
    latest = bought.sort_values("order_ts").groupby("customer_id")["segment"].last() if len(bought) else pd.Series()
    items = np.array(sorted(set(purchases.item.tolist())), dtype=object)
    category = bought.sort_values("order_ts").groupby("product_id")["category"].last() if len(bought) else pd.Series()
    return History(purchases, returns, latest, items, category, lines)


def _audience(history: History, settings: Settings, end: np.datetime64) -> rec.Audience:
    r = settings.recommender
    start = end - np.timedelta64(r.lookback_days, "D")
    lookback = history.purchases.between(start, end)
    ret_ts = pd.to_datetime(history.returns["order_ts"]).to_numpy(dtype="datetime64[us]")
    returned = history.returns[(ret_ts >= start) & (ret_ts < end)]
    return rec.build_audience(lookback, returned, history.segments, history.items, end, r.sequence_days,
                              r.segment_min_customers, r.taste_half_life_days,
                              history.purchases.between(end - np.timedelta64(r.history_days, "D"), end))


def _signals(history: History, settings: Settings, end: np.datetime64, rules: pd.DataFrame) -> rec.Signals:
    start = end - np.timedelta64(settings.recommender.history_days, "D")
    return rec.fit_signals(history.purchases.between(start, end), rules, params_from(settings), history.items,
                           history.item_category)


def offerable_rules_at(history: History, settings: Settings, end: dt.datetime) -> pd.DataFrame:
    """The overall scope's offerable single-consequent rules mined from the lines before ``end``."""

    lines = history.lines[pd.to_datetime(history.lines["order_ts"]) < pd.Timestamp(end)]
    baskets = baskets_from_sales_lines(lines, settings.mining.non_merchandise_codes, "product")
    if baskets.n_baskets == 0:
        return pd.DataFrame(columns=["antecedent", "consequent", "confidence", "lift", "rule_id"])
    product_settings = replace_settings(settings, mining={"engine": "mlxtend"})
    miner = RuleMiner(product_settings)
    result, _ = miner.mine_adapted(baskets)
    rules = rank_rules(result.rules, settings.mining)
    return offer_rules_frame(rules)


def offer_rules_frame(rules: pd.DataFrame) -> pd.DataFrame:
    """Offerable rules as the recommender takes them (consequent as one item)."""
    if rules.empty:
        return pd.DataFrame(columns=["antecedent", "consequent", "confidence", "lift", "rule_id"])
    chosen = rules[rules["is_offerable"].astype(bool)]
    return pd.DataFrame({"antecedent": [tuple(a) for a in chosen["antecedent"]],
                         "consequent": [c[0] for c in chosen["consequent"]],
                         "confidence": chosen["confidence"].astype(float).to_numpy(),
                         "lift": chosen["lift"].astype(float).to_numpy(),
                         "rule_id": chosen["rule_id"].astype(str).to_numpy()})


@dataclass
class Fitted:
    signals: rec.Signals
    audience: rec.Audience
    blend: rec.Blend
    rules: pd.DataFrame
    offers: pd.DataFrame  # transforms.recommender.recommend output


@dataclass
class Cut:
    """Everything the recommender derives at one cut (data before ``end``): what a fit's labels and an
    offer run both start from."""

    rules: pd.DataFrame
    signals: rec.Signals
    audience: rec.Audience
    candidates: pd.DataFrame  # transforms.recommender.candidate_features


@dataclass
class RecommenderCache:
    """Shares the history read and the cuts between the runs of one analytics run.

    The offers as of D fit their blend at the cut D - blend_days, which is the backtest card's training
    cut when holdout_days == blend_days: the card then reuses that cut's rules, signals, audience and
    candidates instead of computing them again, and the history read (both read up to the end of D).
    A cut is reused only for the same history object and the same parameters (the number of offers
    aside: the candidates do not depend on it); only cuts whose rules were mined again at the cut are kept
    (the offers' own cut, with the run's rules, is never asked for again and is not held).
    """

    history: History | None = None
    history_end: dt.datetime | None = None
    cuts: dict[tuple[Any, ...], Cut] = dataclasses.field(default_factory=dict)
    hits: int = 0

    def read_history(self, con: duckdb.DuckDBPyConnection, settings: Settings, end: dt.datetime) -> History:
        if self.history is None or self.history_end != end:
            self.history, self.history_end, self.cuts = read_history(con, settings, end), end, {}
        return self.history


def _history(con: duckdb.DuckDBPyConnection, settings: Settings, end: dt.datetime,
             cache: RecommenderCache | None) -> History:
    """The history up to ``end``, through the cache when there is one."""
    return cache.read_history(con, settings, end) if cache is not None else read_history(con, settings, end)


def _cut(history: History, settings: Settings, end: dt.datetime, rules: pd.DataFrame | None,
         cache: RecommenderCache | None) -> Cut:
    """The cut at ``end`` (rules mined again at ``end`` when ``rules`` is None), from the cache when it has it."""
    params = params_from(settings)
    key = (end, settings.mining, settings.recommender.model_copy(update={"offers_per_customer": 0}),
           None if rules is None else tuple(rules["rule_id"]))
    usable = cache is not None and cache.history is history
    if usable and key in cache.cuts:
        cache.hits += 1
        return cache.cuts[key]
    end64 = np.datetime64(end, "us")
    if rules is None:
        rules = offerable_rules_at(history, settings, end)
    signals = _signals(history, settings, end64, rules)
    audience = _audience(history, settings, end64)
    cut = Cut(rules, signals, audience, rec.candidate_features(signals, audience, params))
    if usable and key[-1] is None:  # only cuts with their rules mined again (a blend's or a backtest's) recur
        cache.cuts[key] = cut
    return cut


def fit_and_recommend(history: History, settings: Settings, end: dt.datetime, rules: pd.DataFrame | None,
                      rules_before_blend: pd.DataFrame | None = None,
                      cache: RecommenderCache | None = None) -> Fitted:
    """Fit the blend out of time (signals at end - blend_days, labels in the blend_days after), then offer.

    ``rules``: the offerable rules at ``end`` (None: mined again at ``end``); ``rules_before_blend`` the
    same at the blend's cut (None: mined again there)."""
    params = params_from(settings)
    r = settings.recommender
    timer = _Timer()
    end64 = np.datetime64(end, "us")
    fit_end = end - dt.timedelta(days=r.blend_days)
    fit64 = np.datetime64(fit_end, "us")
    fit_cut = _cut(history, settings, fit_end, rules_before_blend, cache)
    timer.lap("fit cut")
    cand = fit_cut.candidates
    labels = rec.labels_for(cand, fit_cut.audience, history.purchases.between(fit64, end64), history.items)
    blend = rec.fit_blend(cand, labels, params)
    timer.lap("blend fit")
    log.info("recommender blend on %d candidates (%d bought, %d rows fitted): %s", len(cand), int(labels.sum()),
             blend.fitted_rows, blend.summary())
    cut = _cut(history, settings, end, rules, cache)
    timer.lap("offer cut")
    offers = rec.recommend(cut.signals, cut.audience, blend, params, cut.candidates)
    timer.lap("offers")
    log.info("recommender at %s: %d customers, %d candidates; %s", end.date(), len(cut.audience.customers),
             len(cut.candidates), timer.summary())
    return Fitted(cut.signals, cut.audience, blend, cut.rules, offers)


class _Timer:
    """Wall and CPU seconds per stage, for the log."""

    def __init__(self) -> None:
        self.laps: list[tuple[str, float, float]] = []
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.laps.append((name, wall - self._wall, cpu - self._cpu))
        self._wall, self._cpu = wall, cpu

    def summary(self) -> str:
        return ", ".join(f"{n} {w:.1f} s ({c:.1f} s CPU)" for n, w, c in self.laps)


def _names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:

    frame = item_names(con, "product")
    return dict(zip(frame["item"], frame["item_name"], strict=True))


def _reason_rows(fitted: Fitted, names: dict[str, str], settings: Settings) -> pd.DataFrame:
    offers = fitted.offers
    items = fitted.signals.items
    seq = fitted.signals.sequence.tocsr()
    rules = fitted.signals.rules
    lift_of = dict(zip(fitted.rules["rule_id"], fitted.rules["lift"], strict=True)) if len(fitted.rules) else {}
    days = settings.recommender.sequence_days
    out_reason, out_rule, out_lift = [], [], []
    for item, source, rule_arg, seq_arg, item_arg, row in zip(
            offers["item"], offers["source"], offers["rule_arg"], offers["seq_arg"], offers["item_arg"],
            offers["row"], strict=True):
        name = names.get(items[item], items[item])
        rule_id, lift = None, None
        if source == 0 and rule_arg >= 0:
            r = rules.iloc[int(rule_arg)]
            ante = " and ".join(names.get(items[a], items[a]) for a in r["antecedent"])
            reason = f"bought {ante}: {round(100 * r['confidence'])}% of such baskets also hold {name}"
            rule_id, lift = r["rule_id"], float(lift_of.get(r["rule_id"], np.nan))
        elif source == 1 and seq_arg >= 0:
            share = float(seq[int(seq_arg), int(item)])
            reason = (f"customers who bought {names.get(items[seq_arg], items[seq_arg])} later bought {name} "
                      f"({round(100 * share)}% of them within {days} days)")
        elif source == 2 and item_arg >= 0:
            reason = f"customers who bought {names.get(items[item_arg], items[item_arg])} also bought {name}"
        elif source == 3 and fitted.signals.item_category[item] >= 0:
            category = fitted.signals.categories[fitted.signals.item_category[item]]
            reason = f"often buys {category}: {name} is one of the most bought {category} products"
        else:
            seg = fitted.audience.segment[row]
            reason = f"popular with customers like you ({seg} customers)" if seg and \
                fitted.audience.popularity[row] > 0 else "popular with customers like you"
        out_reason.append(reason)
        out_rule.append(rule_id)
        out_lift.append(lift)
    return pd.DataFrame({"reason": out_reason, "rule_id": out_rule, "lift": out_lift})


def recommendations_frame(fitted: Fitted, names: dict[str, str], settings: Settings,
                          as_of_end: dt.datetime) -> pd.DataFrame:
    offers = fitted.offers.reset_index(drop=True)
    extra = _reason_rows(fitted, names, settings)
    items = fitted.signals.items
    product = [str(items[i]) for i in offers["item"]]
    return pd.DataFrame({
        "customer_id": [str(fitted.audience.customers[r]) for r in offers["row"]],
        "recommendation_rank": offers["rank"].astype("int32").to_numpy(),
        "product_id": product, "product_name": [names.get(p, p) for p in product],
        "score": offers["score"].astype(float).clip(0, 1).to_numpy(),
        "source": [rec.SOURCES[int(s)] for s in offers["source"]],
        "lift": pd.to_numeric(extra["lift"], errors="coerce").to_numpy(),
        "rule_id": extra["rule_id"].to_numpy(), "reason": extra["reason"].to_numpy(),
        "as_of_end": pd.Series([pd.Timestamp(as_of_end)] * len(offers), dtype="datetime64[us]"),
    })


def _write_table(con: duckdb.DuckDBPyConnection, table: str, types: str, frame: pd.DataFrame,
                 docs: tuple[str, dict[str, str]]) -> int:
    con.register("_recommender_frame", pa.Table.from_pandas(frame, preserve_index=False))
    try:
        con.execute(f"create or replace table {table} ({types})")
        con.execute(f"insert into {table} by name select * from _recommender_frame")
    finally:
        con.unregister("_recommender_frame")
    table_doc, columns = docs
    con.execute(f"comment on table {table} is '{table_doc.replace(chr(39), chr(39) * 2)}'")
    for column, doc in columns.items():
        con.execute(f"comment on column {table}.{column} is '{doc.replace(chr(39), chr(39) * 2)}'")
    return int(con.execute(f"select count(*) from {table}").fetchall()[0][0])


def write_recommendations(con: duckdb.DuckDBPyConnection, settings: Settings, as_of_end: dt.datetime,
                          rules: pd.DataFrame, cache: RecommenderCache | None = None) -> tuple[int, dict[str, Any]]:
    """Replace marts.cross_sell_recommendations; returns its rows and a summary (blend, shares).
    ``cache`` keeps the history and the cuts for a backtest of the same run (``refresh_card``)."""
    history = _history(con, settings, as_of_end, cache)
    if len(history.purchases.item) == 0:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in RECOMMENDATION_COLUMNS})
        return _write_table(con, "marts.cross_sell_recommendations", RECOMMENDATION_TYPES, frame,
                            RECOMMENDATION_DOCS), {}
    fitted = fit_and_recommend(history, settings, as_of_end, offer_rules_frame(rules), cache=cache)
    frame = recommendations_frame(fitted, _names(con), settings, as_of_end)
    n = _write_table(con, "marts.cross_sell_recommendations", RECOMMENDATION_TYPES, frame, RECOMMENDATION_DOCS)
    summary = offer_summary(frame, len(fitted.audience.customers))
    log.info("cross-sell offers: %s", summary)
    return n, summary


def offer_summary(frame: pd.DataFrame, active: int) -> dict[str, Any]:
    counts = frame["product_id"].value_counts()
    return {"active_customers": active, "customers_with_offers": int(frame["customer_id"].nunique()),
            "offers": len(frame), "top3_offer_share": float(counts.head(3).sum() / max(len(frame), 1)),
            "by_source": {k: int(v) for k, v in frame["source"].value_counts().items()}}


# ---------------------------------------------------------------------------------------------- backtest

def _relevant(history: History, audience: rec.Audience, start: np.datetime64, end: np.datetime64) -> list[set[int]]:
    """Per audience row, the items bought in [start, end) that were not excluded (bought/returned before)."""
    future = rec.customer_item_matrix(history.purchases.between(start, end), audience.customers, history.items)
    new = (future - future.multiply(audience.excluded)).tocsr()
    new.eliminate_zeros()
    return [set(new.indices[new.indptr[i]:new.indptr[i + 1]].tolist()) for i in range(new.shape[0])]


def evaluate_recommender(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date,
                         holdout_days: int, k: int | None = None,
                         cache: RecommenderCache | None = None) -> pd.DataFrame:
    """The backtest card: hybrid, popularity and co-purchase on the same customers (see the module doc).
    ``cache``: the offers run's history and cuts, reused where they are the same (``RecommenderCache``)."""
    r = settings.recommender
    k = k or r.eval_k
    train_end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    holdout_end = train_end + dt.timedelta(days=holdout_days)
    history = _history(con, settings, holdout_end, cache)
    end64, hold64 = np.datetime64(train_end, "us"), np.datetime64(holdout_end, "us")
    k_settings = replace_settings(settings, recommender={"offers_per_customer": k})
    fitted = fit_and_recommend(history, k_settings, train_end, None, cache=cache)
    audience = fitted.audience
    relevant = _relevant(history, audience, end64, hold64)
    evaluated = np.array([len(s) > 0 for s in relevant])
    lists: dict[str, dict[int, list[int]]] = {"hybrid": {}}
    for row, item in zip(fitted.offers["row"], fitted.offers["item"], strict=True):
        lists["hybrid"].setdefault(int(row), []).append(int(item))
    pop_overall = np.asarray(audience.held.sum(axis=0)).ravel()
    lists["popularity"] = rec.top_n_baseline(audience, pop_overall, k)
    lists["co_purchase"] = rec.top_n_baseline(audience, audience.held @ fitted.signals.similarity, k)
    history_items = len(set(history.purchases.between(end64 - np.timedelta64(r.history_days, "D"), end64).item))
    rows_eval = np.nonzero(evaluated)[0]
    per: dict[str, dict[str, np.ndarray]] = {}
    for name, recs in lists.items():
        per[name] = ranking_metrics([recs.get(int(i), []) for i in rows_eval], [relevant[i] for i in rows_eval], k)
    import json

    out = []
    base_hits = per["popularity"]["hit"]
    by_source = {rec.SOURCES[int(k)]: int(v) for k, v in fitted.offers["source"].value_counts().items()}
    for name, recs in lists.items():
        hits = per[name]["hit"]
        low, high = bootstrap_ci([hits], np.mean, r.bootstrap_samples, r.bootstrap_seed)
        ratio = float(hits.mean() / base_hits.mean()) if base_hits.mean() > 0 else float("nan")
        r_low, r_high = bootstrap_ci([hits, base_hits], lambda a, b: a.mean() / b.mean() if b.mean() else np.nan,
                                     r.bootstrap_samples, r.bootstrap_seed)
        offered = [j for lst in recs.values() for j in lst]
        counts = pd.Series(offered).value_counts() if offered else pd.Series(dtype=int)
        out.append({
            "recommender": name, "is_published": name == "hybrid", "as_of": as_of, "train_end": train_end,
            "holdout_start": train_end, "holdout_end": holdout_end, "k": k,
            "customers_active": len(audience.customers), "customers_evaluated": int(len(rows_eval)),
            "hit_rate": float(hits.mean()) if len(hits) else float("nan"), "hit_rate_ci_low": low,
            "hit_rate_ci_high": high,
            "precision_at_k": float(per[name]["precision"].mean()) if len(hits) else float("nan"),
            "recall_at_k": float(per[name]["recall"].mean()) if len(hits) else float("nan"),
            "customer_coverage": sum(1 for v in recs.values() if v) / max(len(audience.customers), 1),
            "catalogue_coverage": len(counts) / max(history_items, 1),
            "top3_offer_share": float(counts.head(3).sum() / max(len(offered), 1)),
            "hit_rate_vs_popularity": ratio, "ratio_ci_low": r_low, "ratio_ci_high": r_high,
            "offers": len(offered), "bootstrap_samples": r.bootstrap_samples,
            "blend": json.dumps({**fitted.blend.summary(), "offers_by_source": by_source}) if name == "hybrid" else None})
    return pd.DataFrame(out)


def write_card(con: duckdb.DuckDBPyConnection, card: pd.DataFrame) -> int:
    """Replace marts.recommender_card with the backtest's rows."""
    return _write_table(con, "marts.recommender_card", CARD_TYPES, card, CARD_DOCS)


def default_backtest_as_of(con: duckdb.DuckDBPyConnection, holdout_days: int) -> dt.date:
    """The cut that holds out the last ``holdout_days`` days of sales (up to and including the latest sale's day)."""
    from warehouse.foundation.errors import CrmwhError

    latest = con.execute("select max(order_ts) from core.fct_sales_line").fetchall()[0][0]
    if latest is None:
        raise CrmwhError("the warehouse holds no sales lines to evaluate on")
    return latest.date() - dt.timedelta(days=holdout_days)


def refresh_card(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date,
                 cache: RecommenderCache | None = None) -> int:
    """The analytics run's card: the ``holdout_days`` before the end of ``as_of`` held out (``cache``: the
    offers run's, see ``RecommenderCache``)."""
    holdout = settings.recommender.holdout_days
    card = evaluate_recommender(con, settings, as_of - dt.timedelta(days=holdout), holdout, cache=cache)
    if cache is not None:
        log.info("recommender card as of %s: %d cut(s) reused from the offers run", as_of, cache.hits)
    return write_card(con, card)
