"""A hybrid cross-sell recommender: basket rules, customer-level signals and popularity, blended.

Everything here is a pure function on frames and sparse matrices (the warehouse side, reading the star
schema and writing the mart, is ``warehouse.analytics.recommender``).

Sources, each a score in [0, 1] for a (customer, product) pair:

* ``basket_rules``: the best confidence of the offerable association rules (significant, productive,
  lift above the offer minimum) whose whole antecedent the customer bought in the look-back.
* ``sequence``: "customers who bought A later bought B": for ordered pairs (A, B), the share of a
  customer's orders holding A whose next order within ``sequence_days`` holds B (pairs with at least
  ``sequence_min_customers`` customers and a lift of at least ``sequence_min_lift`` over B's share of
  next orders); the customer's score is the best pair from an order in the last ``sequence_days``.
* ``co_purchase``: item-to-item cosine similarity over customers' histories (scipy.sparse; each
  product's top ``item_neighbours``, at least ``min_co_customers`` shared customers), summed over the
  products the customer bought in the look-back and divided by the largest sum of the batch.
* ``category_taste``: the customer's share of products in each category (history_days, each product
  weighted by 0.5 ** (days since bought / half-life)) times the product's share of purchases within its
  category (0 where products carry no category).
* ``popularity``: the share of active customers of the customer's segment who bought the product in the
  look-back (overall when the segment is small), divided by the most popular product's share.

Blend: a gradient-boosted classifier (scikit-learn ``HistGradientBoostingClassifier``, non-decreasing in
every source's score; the customer's number of look-back products is a context feature) ranks the
candidates (each source's top ``candidates``), fitted out of time on the history itself: the signals as
of ``blend_days`` before the as-of date against what the customers then bought in those days (negatives
subsampled, probabilities corrected for it). The offer's ``score`` is that probability of buying the
product within ``blend_days``. With too few purchases to fit, fixed weights from the settings are used.
The source of an offer is the personal source whose removal lowers its score most (popularity when
none does); popularity also fills every active customer up to N offers.

Exclusions: nothing the customer bought or returned in the look-back is offered. Diversity: no product
takes more than ``max_product_share`` of all offers (higher-scored customers first); customers left
short take their next best regardless.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

SOURCES: tuple[str, ...] = ("basket_rules", "sequence", "co_purchase", "category_taste", "popularity")
POPULARITY = SOURCES.index("popularity")
# Upper bound on dense (customers x products) cells scored at once.
CHUNK_CELLS = 8_000_000


@dataclass(frozen=True)
class RecommenderParams:
    """The recommender's parameters, always given: the defaults have one home, ``settings.recommender``
    (``RecommenderSettings``), mapped once by ``warehouse.analytics.recommender.params_from``."""

    offers: int
    item_neighbours: int
    min_co_customers: int
    sequence_days: int
    sequence_min_customers: int
    sequence_min_lift: float
    candidates: int  # per customer and source, before blending
    max_product_share: float
    fixed_weights: tuple[float, ...]  # in SOURCES order
    min_fit_positives: int
    fit_max_rows: int  # rows the blend is fitted on at most (both classes subsampled to fit)
    fit_positive_share: float  # positives kept at most this share of fit_max_rows
    blend_max_iter: int  # boosting iterations at most (early stopping on large fits)
    blend_max_bins: int  # histogram bins per feature
    threads: int  # OpenMP threads of the blend's fit and predictions (0: the library's default)


@dataclass
class Purchases:
    """Usable purchase lines (merchandise, not cancelled, not returned, quantity > 0)."""

    customer: np.ndarray  # customer id (str) per line
    order: np.ndarray  # order id per line
    ts: np.ndarray  # datetime64 per line
    item: np.ndarray  # product id (str) per line

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Purchases:
        return cls(frame["customer_id"].to_numpy(dtype=object), frame["order_id"].to_numpy(dtype=object),
                   pd.to_datetime(frame["order_ts"]).to_numpy(dtype="datetime64[us]"),
                   frame["product_id"].to_numpy(dtype=object))

    def between(self, start: np.datetime64 | None, end: np.datetime64) -> Purchases:
        keep = self.ts < end
        if start is not None:
            keep &= self.ts >= start
        return Purchases(self.customer[keep], self.order[keep], self.ts[keep], self.item[keep])


@dataclass
class Signals:
    """What the recommender learned from a history, ready to score any customers."""

    items: np.ndarray  # product ids (columns)
    similarity: sp.csr_matrix  # items x items, cosine, top neighbours
    sequence: sp.csr_matrix  # items x items, P(B on next order | A)
    rules: pd.DataFrame  # antecedent (tuple of item positions), consequent position, confidence, rule_id
    item_category: np.ndarray  # category position per item (-1 unknown)
    categories: np.ndarray  # category names
    category_popularity: np.ndarray  # per item: its share of the customers' purchases within its category
    item_pos: dict[str, int] = field(default_factory=dict)


@dataclass
class Offers:
    frame: pd.DataFrame  # customer_id, rank, product_id, score, source, evidence columns
    blend: dict[str, float]  # coefficient per source and intercept, plus "fitted" (1/0) and positives


def _index(values: np.ndarray, universe: np.ndarray) -> np.ndarray:
    pos = pd.Index(universe).get_indexer(values)
    return pos


def customer_item_matrix(purchases: Purchases, customers: np.ndarray, items: np.ndarray) -> sp.csr_matrix:
    """Binary customers x items matrix of who bought what (unknown customers or items are dropped)."""
    r = _index(purchases.customer, customers)
    c = _index(purchases.item, items)
    keep = (r >= 0) & (c >= 0)
    m = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (r[keep], c[keep])),
                      shape=(len(customers), len(items)))
    m.data[:] = 1.0
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _top_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of each row."""
    m = m.tocsr()
    rows, cols, vals = [], [], []
    for i in range(m.shape[0]):
        lo, hi = m.indptr[i], m.indptr[i + 1]
        if hi == lo:
            continue
        data = m.data[lo:hi]
        idx = m.indices[lo:hi]
        if hi - lo > k:
            sel = np.argpartition(-data, k - 1)[:k]
            data, idx = data[sel], idx[sel]
        rows.append(np.full(len(idx), i))
        cols.append(idx)
        vals.append(data)
    if not rows:
        return sp.csr_matrix(m.shape, dtype=np.float32)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=m.shape)


def item_similarity(bought: sp.csr_matrix, neighbours: int, min_co: int) -> sp.csr_matrix:
    """Item-item cosine similarity over customers (binary), each item's top neighbours, no diagonal."""
    x = sp.csr_matrix(bought, dtype=np.float32)
    co = (x.T @ x).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    co.data[co.data < min_co] = 0
    co.eliminate_zeros()
    counts = np.asarray(x.sum(axis=0)).ravel()
    norm = np.sqrt(np.maximum(counts, 1.0))
    coo = co.tocoo()
    sim = sp.csr_matrix((coo.data / (norm[coo.row] * norm[coo.col]), (coo.row, coo.col)), shape=co.shape)
    return _top_per_row(sim, neighbours)


def sequence_matrix(purchases: Purchases, items: np.ndarray, days: int, min_customers: int,
                    min_lift: float) -> sp.csr_matrix:
    """P(B on the customer's next order within ``days`` | A on this order), for pairs that pass the bars."""
    n_items = len(items)
    if len(purchases.item) == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    orders = pd.DataFrame({"customer": purchases.customer, "order": purchases.order, "ts": purchases.ts})
    first = orders.groupby("order", sort=False).agg(customer=("customer", "first"), ts=("ts", "min"))
    first = first.sort_values(["customer", "ts"], kind="stable")
    cust = first["customer"].to_numpy()
    ts = first["ts"].to_numpy()
    same = np.r_[cust[1:] == cust[:-1], False]
    gap_ok = np.r_[(ts[1:] - ts[:-1]) <= np.timedelta64(days, "D"), False]
    has_next = same & gap_ok
    order_ids = first.index.to_numpy()
    n_orders = len(order_ids)
    pos_of_order = pd.Index(order_ids)
    nxt = np.where(has_next, np.arange(n_orders) + 1, -1)
    o = pos_of_order.get_indexer(purchases.order)
    c = _index(purchases.item, items)
    keep = c >= 0
    om = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (o[keep], c[keep])), shape=(n_orders, n_items))
    om.data[:] = 1.0
    om.sum_duplicates()
    om.data[:] = 1.0
    src = np.nonzero(nxt >= 0)[0]
    if len(src) == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    a = om[src]
    b = om[nxt[src]]
    # customers per pair: count each (customer, A, B) once
    cust_codes = pd.factorize(cust[src])[0]
    per_cust_a = sp.csr_matrix((np.ones(len(src), dtype=np.float32), (cust_codes, np.arange(len(src)))),
                               shape=(cust_codes.max() + 1, len(src)))
    pairs = (a.T @ b).tocsr()  # order transitions A -> B
    cust_pairs = ((per_cust_a @ a).T.astype(bool).astype(np.float32) @ ((per_cust_a @ b).astype(bool)
                                                                         .astype(np.float32))).tocsr()
    # the customer bar uses customers who had A on some order and B on some next order (an upper bound
    # of the customers who made the move; cheap and monotone)
    a_count = np.asarray(a.sum(axis=0)).ravel()  # orders with A that have a next order
    b_share = np.asarray(b.sum(axis=0)).ravel() / len(src)  # share of next orders holding B
    coo = pairs.tocoo()
    conf = coo.data / np.maximum(a_count[coo.row], 1)
    lift = conf / np.maximum(b_share[coo.col], 1e-12)
    enough = np.asarray(cust_pairs[coo.row, coo.col]).ravel() >= min_customers
    keep = enough & (lift >= min_lift) & (coo.row != coo.col)
    return sp.csr_matrix((conf[keep].astype(np.float32), (coo.row[keep], coo.col[keep])), shape=(n_items, n_items))


def fit_signals(history: Purchases, rules: pd.DataFrame, params: RecommenderParams,
                items: np.ndarray | None = None, item_category: pd.Series | None = None) -> Signals:
    """Learn the item-level signals from ``history``; ``rules`` has antecedent (list), consequent, confidence;
    ``item_category`` maps product id -> category (missing or empty: no category signal for it)."""
    if items is None:
        items = np.array(sorted(set(history.item.tolist())), dtype=object)
    customers = np.array(sorted(set(history.customer.tolist())), dtype=object)
    bought = customer_item_matrix(history, customers, items)
    sim = item_similarity(bought, params.item_neighbours, params.min_co_customers)
    seq = sequence_matrix(history, items, params.sequence_days, params.sequence_min_customers,
                          params.sequence_min_lift)
    pos = {str(it): i for i, it in enumerate(items.tolist())}
    rows = []
    for r in rules.itertuples(index=False):
        ante = tuple(pos.get(str(a), -1) for a in r.antecedent)
        cons = pos.get(str(r.consequent), -1)
        if cons >= 0 and min(ante, default=-1) >= 0:
            rows.append((ante, cons, float(r.confidence), str(r.rule_id)))
    rule_frame = pd.DataFrame(rows, columns=["antecedent", "consequent", "confidence", "rule_id"])
    cat_names, item_cat = _categories(items, item_category)
    buyers = np.asarray(bought.sum(axis=0)).ravel()
    cat_pop = np.zeros(len(items))
    for g in range(len(cat_names)):
        members = item_cat == g
        total = buyers[members].sum() if members.any() else 0
        if total > 0:
            cat_pop[members] = buyers[members] / total
    return Signals(items=items, similarity=sim, sequence=seq, rules=rule_frame, item_category=item_cat,
                   categories=cat_names, category_popularity=cat_pop, item_pos=pos)


def _categories(items: np.ndarray, item_category: pd.Series | None) -> tuple[np.ndarray, np.ndarray]:
    if item_category is None:
        return np.array([], dtype=object), np.full(len(items), -1, dtype=np.int64)
    cats = item_category.reindex(items).astype("string").str.strip().fillna("")
    values = cats.to_numpy(dtype=object)
    names = np.array(sorted({c for c in values if c}), dtype=object)
    pos = pd.Index(names).get_indexer(values)
    return names, np.where(np.asarray([bool(c) for c in values]), pos, -1).astype(np.int64)


def category_shares(held_lines: sp.csr_matrix, item_category: np.ndarray, n_categories: int) -> np.ndarray:
    """customers x categories: share of the customer's look-back products in each category (weighted)."""
    if n_categories == 0:
        return np.zeros((held_lines.shape[0], 0))
    known = item_category >= 0
    to_cat = sp.csr_matrix((np.ones(int(known.sum())), (np.nonzero(known)[0], item_category[known])),
                           shape=(len(item_category), n_categories))
    counts = (held_lines @ to_cat).toarray()
    total = counts.sum(axis=1, keepdims=True)
    return np.where(total > 0, counts / np.maximum(total, 1), 0.0)


@dataclass
class Audience:
    """The customers to score: who they are, what they bought recently, what they may not be offered."""

    customers: np.ndarray  # customer ids
    segment: np.ndarray  # segment per customer (str, '' when unknown)
    held: sp.csr_matrix  # customers x items: bought in the look-back
    excluded: sp.csr_matrix  # customers x items: bought or returned in the look-back
    recent: sp.csr_matrix  # customers x items: on an order in the last sequence_days
    popularity: np.ndarray  # per customer row: index into pop_table
    pop_table: np.ndarray  # segments x items: share of the segment's active customers who bought
    recency: sp.csr_matrix | None = None  # customers x items: 0.5 ** (days since last bought / half-life)


def build_audience(lookback: Purchases, returned: pd.DataFrame, segments: pd.Series, items: np.ndarray,
                   as_of_end: np.datetime64, sequence_days: int, segment_min_customers: int,
                   half_life_days: float = 180.0, taste_history: Purchases | None = None) -> Audience:
    """Active customers = bought something in ``lookback``; ``returned`` has customer_id, product_id;
    ``taste_history`` (default: the look-back) is what the recency-weighted category taste reads."""
    customers = np.array(sorted(set(lookback.customer.tolist())), dtype=object)
    held = customer_item_matrix(lookback, customers, items)
    taste_history = lookback if taste_history is None else taste_history
    age = (as_of_end - taste_history.ts) / np.timedelta64(1, "D")
    r0, c0 = _index(taste_history.customer, customers), _index(taste_history.item, items)
    ok0 = (r0 >= 0) & (c0 >= 0)
    weight = pd.DataFrame({"r": r0[ok0], "c": c0[ok0], "w": 0.5 ** (age[ok0] / half_life_days)}) \
        .groupby(["r", "c"], sort=False)["w"].max().reset_index()
    recency = sp.csr_matrix((weight["w"].to_numpy(np.float32), (weight["r"], weight["c"])), shape=held.shape)
    r = _index(returned["customer_id"].to_numpy(dtype=object), customers) if len(returned) else np.zeros(0, int)
    c = _index(returned["product_id"].to_numpy(dtype=object), items) if len(returned) else np.zeros(0, int)
    ok = (r >= 0) & (c >= 0)
    ret = sp.csr_matrix((np.ones(int(ok.sum()), dtype=np.float32), (r[ok], c[ok])), shape=held.shape)
    excluded = ((held + ret) > 0).astype(np.float32).tocsr()
    recent = customer_item_matrix(lookback.between(as_of_end - np.timedelta64(sequence_days, "D"), as_of_end),
                                  customers, items)
    seg = segments.reindex(customers).fillna("").astype(str).to_numpy()
    names, codes = np.unique(seg, return_inverse=True)
    overall = np.asarray(held.sum(axis=0)).ravel() / max(len(customers), 1)
    table = [overall]
    group = np.zeros(len(customers), dtype=np.int64)
    for g, name in enumerate(names):
        members = np.nonzero(codes == g)[0]
        if name and len(members) >= segment_min_customers:
            table.append(np.asarray(held[members].sum(axis=0)).ravel() / len(members))
            group[members] = len(table) - 1
    return Audience(customers, seg, held, excluded, recent, group, np.vstack(table), recency)


def _rule_scores(audience: Audience, rules: pd.DataFrame) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """customers x items: best rule confidence, and 1 + index of that rule (for the reason)."""
    shape = audience.held.shape
    if rules.empty:
        return sp.csr_matrix(shape, dtype=np.float32), sp.csr_matrix(shape, dtype=np.float32)
    hc = audience.held.tocsc()
    rows_l, cols_l, vals_l, ids_l = [], [], [], []
    for k, (ante, cons, conf) in enumerate(zip(rules["antecedent"], rules["consequent"], rules["confidence"],
                                              strict=True)):
        holders = None
        for a in ante:
            col = hc.indices[hc.indptr[a]:hc.indptr[a + 1]]
            holders = col if holders is None else np.intersect1d(holders, col, assume_unique=True)
        if holders is None or len(holders) == 0:
            continue
        rows_l.append(holders)
        cols_l.append(np.full(len(holders), cons))
        vals_l.append(np.full(len(holders), conf))
        ids_l.append(np.full(len(holders), k + 1))
    if not rows_l:
        return sp.csr_matrix(shape, dtype=np.float32), sp.csr_matrix(shape, dtype=np.float32)
    frame = pd.DataFrame({"r": np.concatenate(rows_l), "c": np.concatenate(cols_l), "v": np.concatenate(vals_l),
                          "k": np.concatenate(ids_l)})
    frame = frame.sort_values(["r", "c", "v", "k"], ascending=[True, True, False, True]).drop_duplicates(["r", "c"])
    score = sp.csr_matrix((frame["v"].to_numpy(np.float32), (frame["r"], frame["c"])), shape=shape)
    which = sp.csr_matrix((frame["k"].to_numpy(np.float32), (frame["r"], frame["c"])), shape=shape)
    return score, which


def _sparse_rowmax_product(x: sp.csr_matrix, m: sp.csr_matrix) -> np.ndarray:
    """Dense rows x cols: max over i in row of x of m[i, j] (0 where no i reaches j)."""
    rows, cols = x.shape[0], m.shape[1]
    flat_best = np.zeros(rows * cols, dtype=np.float32)
    x = x.tocsr()
    mc = m.tocsr()
    r = np.repeat(np.arange(rows), np.diff(x.indptr))
    i = x.indices
    width = np.diff(mc.indptr)[i]
    if width.sum() == 0:
        return flat_best.reshape(rows, cols)
    # every (row, held item i, neighbour j) triple, then the largest value per (row, j)
    starts = np.repeat(mc.indptr[i], width)
    offsets = np.arange(int(width.sum())) - np.repeat(np.cumsum(width) - width, width)
    key = np.repeat(r, width) * cols + mc.indices[starts + offsets]
    np.maximum.at(flat_best, key, mc.data[starts + offsets].astype(np.float32))
    return flat_best.reshape(rows, cols)


def _pair_argmax(x: sp.csr_matrix, m: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Per pair (rows[p], cols[p]): the i in row rows[p] of x with the largest m[i, cols[p]] > 0 (ties: the
    smaller i; -1 when none): the evidence behind a max over x's items, for the few pairs that need it."""
    x = x.tocsr()
    counts = np.diff(x.indptr)[rows]
    out = np.full(len(rows), -1, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return out
    pair = np.repeat(np.arange(len(rows)), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    held = x.indices[np.repeat(x.indptr[rows], counts) + offsets].astype(np.int64)
    value = np.asarray(m.tocsr()[held, cols[pair]]).ravel().astype(np.float32)
    ok = value > 0
    pair, held, value = pair[ok], held[ok], value[ok]
    order = np.lexsort((held, -value, pair))
    first = order[np.r_[True, pair[order][1:] != pair[order][:-1]]] if len(order) else order
    out[pair[first]] = held[first]
    return out


@dataclass
class _Chunk:
    features: np.ndarray  # (sources, rows, items) float32, in SOURCES order
    excluded: np.ndarray  # bool (rows, items)
    history_items: np.ndarray  # products the customer bought in the look-back


def _chunk_features(signals: Signals, audience: Audience, rows: np.ndarray, rule_score: sp.csr_matrix,
                    item_scale: float) -> _Chunk:
    held = audience.held[rows]
    feats = np.zeros((len(SOURCES), len(rows), len(signals.items)), dtype=np.float32)
    feats[0] = rule_score[rows].toarray()
    feats[1] = _sparse_rowmax_product(audience.recent[rows], signals.sequence)
    item_sum = (held @ signals.similarity).toarray()
    feats[2] = np.minimum(item_sum / max(item_scale, 1e-12), 1.0)
    weighted = audience.recency[rows] if audience.recency is not None else held
    shares = category_shares(weighted, signals.item_category, len(signals.categories))
    if shares.shape[1]:
        known = signals.item_category >= 0
        feats[3][:, known] = shares[:, signals.item_category[known]] * signals.category_popularity[known][None, :]
    pop_max = audience.pop_table.max(axis=1)
    feats[4] = (audience.pop_table / np.maximum(pop_max, 1e-12)[:, None])[audience.popularity[rows]]
    excluded = audience.excluded[rows].toarray() > 0
    return _Chunk(feats, excluded, np.diff(held.indptr).astype(np.float64))


def _chunks(n_rows: int, n_items: int) -> list[np.ndarray]:
    size = max(1, CHUNK_CELLS // max(n_items, 1))
    return [np.arange(s, min(s + size, n_rows)) for s in range(0, n_rows, size)]


def _item_scale(signals: Signals, audience: Audience) -> float:
    """Largest co-purchase sum over the audience (the co_purchase score's unit), from a sample."""
    sums = (audience.held @ signals.similarity)
    return float(sums.max()) if sums.nnz else 1.0


def _top_shared(scores: np.ndarray, excluded: np.ndarray, k: int) -> np.ndarray:
    """rows x items mask of each row's top ``k`` items by one score vector shared by all the rows (not
    excluded, score > 0; ties to the smaller item): only the first k + (most exclusions) items are read."""
    rows, items = excluded.shape
    mask = np.zeros((rows, items), dtype=bool)
    if rows == 0:
        return mask
    width = min(items, k + int(excluded.sum(axis=1).max()))
    order = np.argsort(-scores, kind="stable")[:width]
    ok = ~excluded[:, order] & (scores[order] > 0)[None, :]
    ok &= np.cumsum(ok, axis=1) <= k
    r, c = np.nonzero(ok)
    mask[r, order[c]] = True
    return mask


def _candidate_mask(features: np.ndarray, excluded: np.ndarray, m: int, group: np.ndarray | None = None,
                    ) -> np.ndarray:
    """Per row, the top ``m`` items of each source (not excluded, score > 0); ``features`` is (sources,
    rows, items). Rows with at most ``m`` such items take them all; only the others are partitioned.
    ``group`` (per row; rows of a group share their popularity scores) lets popularity be read once per group."""
    n_src, rows, items = features.shape
    mask = np.zeros((rows, items), dtype=bool)
    k = min(m, items)
    for s in range(n_src):
        if s == POPULARITY and group is not None:
            for g in np.unique(group):
                members = np.nonzero(group == g)[0]
                mask[members] |= _top_shared(features[s, members[0]], excluded[members], k)
            continue
        valid = (features[s] > 0) & ~excluded
        many = np.nonzero(valid.sum(axis=1) > k)[0]
        if len(many) == 0:
            mask |= valid
            continue
        few = np.ones(rows, dtype=bool)
        few[many] = False
        mask[few] |= valid[few]
        f = np.where(valid[many], features[s][many], np.float32(-1.0))
        top = np.argpartition(-f, k - 1, axis=1)[:, :k]
        mask[np.repeat(many, k), top.ravel()] = True
    return mask


def candidate_features(signals: Signals, audience: Audience, params: RecommenderParams) -> pd.DataFrame:
    """Every candidate (customer row, item) with its five source scores and the customer's context."""
    rule_score, _ = _rule_scores(audience, signals.rules)
    scale = _item_scale(signals, audience)
    parts = []
    for rows in _chunks(len(audience.customers), len(signals.items)):
        ch = _chunk_features(signals, audience, rows, rule_score, scale)
        mask = _candidate_mask(ch.features, ch.excluded, params.candidates, audience.popularity[rows])
        r, c = np.nonzero(mask)
        parts.append(pd.DataFrame({
            "row": rows[r], "item": c, **{name: ch.features[k, r, c] for k, name in enumerate(SOURCES)},
            "history_items": ch.history_items[r]}))
    if not parts:
        return pd.DataFrame(columns=["row", "item", *FEATURES])
    return pd.concat(parts, ignore_index=True)


def offer_evidence(signals: Signals, audience: Audience, rows: np.ndarray, items: np.ndarray,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For offered (customer row, item) pairs: the index of the best rule behind it (-1 none), the recent
    product whose sequence leads to it most, and the held product most similar to it (-1 none)."""
    rows, items = np.asarray(rows, dtype=np.int64), np.asarray(items, dtype=np.int64)
    _, rule_which = _rule_scores(audience, signals.rules)
    rule_arg = np.asarray(rule_which.tocsr()[rows, items]).ravel().astype(np.int64) - 1 if len(rows) else \
        np.zeros(0, dtype=np.int64)
    seq_arg = _pair_argmax(audience.recent, signals.sequence, rows, items)
    item_arg = _pair_argmax(audience.held, signals.similarity, rows, items)
    return rule_arg, seq_arg, item_arg


CONTEXT: tuple[str, ...] = ("history_items",)  # not sources: what the ranker knows about the customer
FEATURES: tuple[str, ...] = (*SOURCES, *CONTEXT)


@dataclass
class Blend:
    """How the sources' scores become one offer score: a fitted ranker, or fixed weights."""

    model: object | None  # sklearn HistGradientBoostingClassifier, monotone in every source
    weights: dict[str, float]  # fixed weights (used when model is None)
    positives: int
    candidates: int
    sample_rate: float = 1.0  # share of negatives kept to fit / share of positives kept (corrected for)
    threads: int = 1  # OpenMP threads of the predictions (0: the library's default)
    fitted_rows: int = 0  # candidates the model was fitted on (after the sampling)

    @property
    def fitted(self) -> bool:
        return self.model is not None

    def summary(self) -> dict[str, float | str]:
        out: dict[str, float | str] = {"model": "hist_gradient_boosting" if self.fitted else "fixed_weights",
                                       "positives": self.positives, "candidates": self.candidates}
        if not self.fitted:
            out.update(self.weights)
        return out

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Score in [0, 1] per row of ``frame`` (columns FEATURES)."""
        if self.model is None:
            w = np.array([self.weights[f] for f in SOURCES])
            x = frame[list(SOURCES)].to_numpy(dtype=np.float64)
            return np.clip(x @ w / max(float(np.abs(w).sum()), 1e-12), 0.0, 1.0)
        with _thread_limit(self.threads):
            p = self.model.predict_proba(frame[list(FEATURES)].to_numpy(dtype=np.float64))[:, 1]
        # undo the negative subsampling: the odds scale by the sampling rate
        return p * self.sample_rate / (p * self.sample_rate + (1.0 - p))


@contextlib.contextmanager
def _thread_limit(threads: int) -> Iterator[None]:
    """At most ``threads`` OpenMP/BLAS threads inside (no limit for 0): on a small shared machine the
    boosting's per-tree barriers stall whenever one of its threads is descheduled."""
    if threads <= 0:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield


def fit_blend(candidates: pd.DataFrame, labels: np.ndarray, params: RecommenderParams, seed: int = 0) -> Blend:
    """A gradient-boosted ranker of the candidates (out of time), non-decreasing in every source's score;
    fixed weights when there are too few purchases to fit. The fit has at most ``params.fit_max_rows``
    rows: the positives up to ``fit_positive_share`` of them, negatives for the rest (each class sampled
    at random; the predicted odds are corrected by the ratio of the two sampling rates)."""
    positives = int(labels.sum())
    weights = {s: float(w) for s, w in zip(SOURCES, params.fixed_weights, strict=True)}
    if positives < params.min_fit_positives or positives >= len(labels):
        return Blend(None, weights, positives, len(labels), threads=params.threads)
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(seed)
    pos, neg = np.nonzero(labels)[0], np.nonzero(~labels)[0]
    pos_rate = min(1.0, max(params.fit_max_rows * params.fit_positive_share, params.min_fit_positives) / positives)
    if pos_rate < 1.0:
        pos = pos[rng.random(len(pos)) < pos_rate]
    neg_rate = min(1.0, max(params.fit_max_rows - len(pos), 1) / max(len(neg), 1))
    keep = np.concatenate([pos, neg[rng.random(len(neg)) < neg_rate]])
    rate = neg_rate / pos_rate
    x = candidates[list(FEATURES)].to_numpy(dtype=np.float64)[keep]
    model = HistGradientBoostingClassifier(
        max_iter=params.blend_max_iter, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=100,
        l2_regularization=1.0, max_bins=params.blend_max_bins,
        monotonic_cst=[1] * len(SOURCES) + [0] * len(CONTEXT), random_state=seed)
    with _thread_limit(params.threads):
        model.fit(x, labels[keep])
    return Blend(model, weights, positives, len(labels), rate, params.threads, len(keep))


def attribute_sources(frame: pd.DataFrame, blend: Blend) -> np.ndarray:
    """Index into SOURCES of the personal source whose removal lowers each row's score most
    (popularity when removing none of them lowers it)."""
    base = blend.predict(frame)
    drops = np.zeros((len(frame), POPULARITY))
    for k, name in enumerate(SOURCES[:POPULARITY]):
        if not (frame[name] > 0).any():
            continue
        drops[:, k] = base - blend.predict(frame.assign(**{name: 0.0}))
    best = np.argmax(drops, axis=1)
    has = drops[np.arange(len(frame)), best] > 1e-9
    return np.where(has, best, POPULARITY)


def select_offers(candidates: pd.DataFrame, score: np.ndarray, n_customers: int, params: RecommenderParams,
                  ) -> pd.DataFrame:
    """Top ``offers`` per customer row under the per-product cap, greedily in rounds.

    Each round every customer still short takes its best remaining candidate whose product is not full;
    when more customers want a product than it has room for, the higher scores win. Customers the cap
    leaves short at the end take their next best regardless of the cap.
    """
    frame = candidates.assign(score=score)
    frame = frame.sort_values(["row", "score", "item"], ascending=[True, False, True], kind="stable",
                              ignore_index=True)
    n_items = int(frame["item"].max()) + 1 if len(frame) else 0
    if params.max_product_share > 0:
        room = np.full(n_items, max(1, math.ceil(params.max_product_share * n_customers * params.offers)))
    else:
        room = np.full(n_items, np.iinfo(np.int64).max)
    taken = np.zeros(len(frame), dtype=bool)
    have = np.zeros(n_customers, dtype=np.int64)
    rows = frame["row"].to_numpy()
    items = frame["item"].to_numpy()
    scores = frame["score"].to_numpy()
    for _ in range(params.offers * 4):
        open_ = ~taken & (room[items] > 0) & (have[rows] < params.offers)
        if not open_.any():
            break
        idx = np.nonzero(open_)[0]
        first = idx[np.r_[True, rows[idx][1:] != rows[idx][:-1]]]  # each row's best open candidate
        order = first[np.lexsort((rows[first], -scores[first], items[first]))]
        seen = _cumcount_by(items[order])
        win = order[seen < room[items[order]]]
        taken[win] = True
        np.add.at(room, items[win], -1)
        np.add.at(have, rows[win], 1)
    short = have < params.offers
    if short.any():
        extra_idx = np.nonzero(~taken & short[rows])[0]
        k = _cumcount_by(rows[extra_idx])
        extra_idx = extra_idx[k < (params.offers - have[rows[extra_idx]])]
        taken[extra_idx] = True
    chosen = frame[taken].sort_values(["row", "score", "item"], ascending=[True, False, True], kind="stable")
    chosen["rank"] = chosen.groupby("row").cumcount() + 1
    return chosen


def _cumcount_by(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2 ... per value of ``keys`` in the given order."""
    return pd.Series(keys).groupby(keys, sort=False).cumcount().to_numpy()


def popularity_fill(audience: Audience, chosen: pd.DataFrame, params: RecommenderParams) -> pd.DataFrame:
    """Rows for customers still short of ``offers`` (few candidates): the segment's most popular products."""
    counts = chosen.groupby("row").size().reindex(range(len(audience.customers)), fill_value=0)
    short = counts[counts < params.offers]
    if short.empty:
        return chosen
    extra = []
    for row, have in short.items():
        taken = set(chosen.loc[chosen["row"] == row, "item"].tolist()) if have else set()
        pop = audience.pop_table[audience.popularity[row]]
        excl = audience.excluded[row].toarray().ravel() > 0
        order = np.argsort(-pop, kind="stable")
        picks = [int(j) for j in order if not excl[j] and j not in taken and pop[j] > 0][: params.offers - have]
        for k, j in enumerate(picks):
            extra.append({"row": row, "item": j, **dict.fromkeys(SOURCES[:POPULARITY], 0.0), "history_items": 0.0,
                          "popularity": float(pop[j] / max(pop.max(), 1e-12)), "rule_arg": -1, "seq_arg": -1,
                          "item_arg": -1, "score": np.nan, "source": POPULARITY, "rank": have + k + 1})
    if not extra:
        return chosen
    return pd.concat([chosen, pd.DataFrame(extra)], ignore_index=True)


def recommend(signals: Signals, audience: Audience, blend: Blend, params: RecommenderParams,
              candidates: pd.DataFrame | None = None) -> pd.DataFrame:
    """Offers for every customer of ``audience``: row, item, rank, score, source and evidence
    (``candidates``: ``candidate_features`` of the same signals and audience, when already computed)."""
    cand = candidate_features(signals, audience, params) if candidates is None else candidates
    chosen = select_offers(cand, blend.predict(cand), len(audience.customers), params)
    chosen["source"] = attribute_sources(chosen, blend) if len(chosen) else np.zeros(0, dtype=np.int64)
    chosen["rule_arg"], chosen["seq_arg"], chosen["item_arg"] = offer_evidence(
        signals, audience, chosen["row"].to_numpy(), chosen["item"].to_numpy())
    offers = popularity_fill(audience, chosen, params)
    fill = offers["score"].isna().to_numpy()
    if fill.any():
        offers.loc[fill, "score"] = blend.predict(offers[fill])
    return offers


def labels_for(candidates: pd.DataFrame, audience: Audience, future: Purchases, items: np.ndarray) -> np.ndarray:
    """1 where the candidate's customer bought the item in ``future`` (0 otherwise)."""
    bought = customer_item_matrix(future, audience.customers, items).tocsr()
    return np.asarray(bought[candidates["row"].to_numpy(), candidates["item"].to_numpy()]).ravel() > 0


def top_n_baseline(audience: Audience, scores: np.ndarray | sp.spmatrix, n: int) -> dict[int, list[int]]:
    """Top ``n`` items per customer row by ``scores`` (rows x items, or one row for everyone), excluded out;
    ties go to the smaller item index."""
    out: dict[int, list[int]] = {}
    for rows in _chunks(len(audience.customers), audience.held.shape[1]):
        if sp.issparse(scores):
            s = scores[rows].toarray().astype(np.float64)
        else:
            s = np.broadcast_to(np.asarray(scores, dtype=np.float64), (len(rows), audience.held.shape[1])).copy()
        s[audience.excluded[rows].toarray() > 0] = -np.inf
        s[s <= 0] = -np.inf
        k = min(n, s.shape[1])
        # the k-th largest score per row bounds the top k (ties at it included), then a stable order
        kth = -np.partition(-s, k - 1, axis=1)[:, k - 1] if k else np.full(len(rows), np.inf)
        r, c = np.nonzero((s >= kth[:, None]) & np.isfinite(s))
        v = s[r, c]
        order = np.lexsort((c, -v, r))
        r, c = r[order], c[order]
        keep = _cumcount_by(r) < k
        r, c = r[keep], c[keep]
        bounds = np.searchsorted(r, np.arange(len(rows) + 1))
        items = c.tolist()
        for pos, row in enumerate(rows.tolist()):
            out[row] = items[bounds[pos]:bounds[pos + 1]]
    return out
