"""Customer taste and next-purchase sequences of the demo CRM (planted for the recommender to find).

Two kinds of structure, both written to the ground truth under ``taste`` and ``sequences`` and never
into the source tables:

* **Taste.** Every customer prefers ``TASTE_CATEGORIES`` product categories with Dirichlet weights
  (categories drawn by their share of the catalogue's popularity). The taste drifts slowly: a second
  taste, in which one favourite category may be swapped for another, takes over linearly from the
  customer's first day in the history to the end date (``weight of the end taste = elapsed share``).
  A line of a customer's ordinary order is drawn from the taste with probability ``TASTE_STRENGTH``
  (category from the taste in force at the order's time, product within it by popularity); otherwise,
  and for guests, from the whole catalogue by popularity, as before.
* **Sequences.** Planted pairs (A, B): when a customer's order holds A and the same customer's next
  order comes within ``within_days``, B is added to that next order with probability ``probability``.
  Retail: ``RETAIL_SEQUENCES`` pairs of popular one-off products outside the bundles (popularity
  ranks in the top 1% to 5%, below the very best sellers), from different categories. Services: the agency's natural chain, variant by variant (same tier and
  company kind): company registration -> agency bookkeeping -> monthly tax filing -> annual report ->
  trademark, each step on the order after the previous step's.

``demo advance`` draws its new orders from the same tastes (the end taste; new customers get one) and
applies the sequences inside the advanced window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from warehouse.demo.config import DAY, Catalog

TASTE_CATEGORIES = 3  # favourite categories per customer
TASTE_CONCENTRATION = 1.0  # Dirichlet alpha of the weights among them
TASTE_STRENGTH = 0.7  # share of a customer's ordinary lines drawn from the taste
TASTE_DRIFT_SHARE = 0.5  # share of customers whose end taste swaps one favourite category
RETAIL_SEQUENCES = 8
SEQUENCE_WITHIN_DAYS = 90
SEQUENCE_PROBABILITY = 0.6
# Services: the chain of categories a new company goes through, by product-code stem.
SERVICES_CHAIN: tuple[str, ...] = ("SV-REG", "SV-BKP", "SV-TAX", "SV-ANN", "SV-TMK")
SERVICES_CHAIN_WITHIN_DAYS = 120
SERVICES_CHAIN_PROBABILITY = 0.6


@dataclass
class Tastes:
    """Per customer: favourite categories and weights at the start and at the end of the history."""

    categories: np.ndarray  # category names (columns of the index arrays)
    start_idx: np.ndarray  # (n, K) int
    start_w: np.ndarray  # (n, K) float, rows sum to 1
    end_idx: np.ndarray
    end_w: np.ndarray

    def __len__(self) -> int:
        return len(self.start_idx)

    def to_truth(self, codes: list[str]) -> dict[str, list[Any]]:
        """customer code -> [start categories, start weights, end categories, end weights] (compact)."""
        names = self.categories
        out: dict[str, list[Any]] = {}
        for i, code in enumerate(codes):
            out[code] = [names[self.start_idx[i]].tolist(), np.round(self.start_w[i], 3).tolist(),
                         names[self.end_idx[i]].tolist(), np.round(self.end_w[i], 3).tolist()]
        return out

    @classmethod
    def from_truth(cls, block: dict[str, Any], codes: list[str]) -> Tastes:
        """The tastes of ``codes`` from the ground truth (customers it lacks get an empty taste)."""
        names = np.array(block["categories"], dtype=object)
        pos = {c: i for i, c in enumerate(names.tolist())}
        k = TASTE_CATEGORIES
        arrays = [np.zeros((len(codes), k), dtype=np.int64), np.zeros((len(codes), k)),
                  np.zeros((len(codes), k), dtype=np.int64), np.zeros((len(codes), k))]
        customers = block.get("customers", {})
        for i, code in enumerate(codes):
            entry = customers.get(code)
            if entry is None:
                continue
            for j, (cats, weights) in enumerate(((entry[0], entry[1]), (entry[2], entry[3]))):
                arrays[2 * j][i, : len(cats)] = [pos[c] for c in cats]
                arrays[2 * j + 1][i, : len(weights)] = weights
        return cls(names, *arrays)


def sellable_mask(catalog: Catalog, profile_name: str) -> np.ndarray:
    """Products an ordinary order draws from (monthly services are billed by recurring invoices)."""
    billing_ok = (catalog.billing == "one_off") if profile_name == "retail" else (catalog.billing != "monthly")
    return catalog.is_merchandise & billing_ok


def taste_categories(catalog: Catalog, sellable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Categories a taste can hold and their weights (their products' summed popularity)."""
    cats = np.unique(catalog.categories[sellable])
    weight = np.array([catalog.popularity[sellable & (catalog.categories == c)].sum() for c in cats])
    return cats.astype(object), weight


def draw_tastes(rng: np.random.Generator, n: int, categories: np.ndarray, weights: np.ndarray) -> Tastes:
    """Tastes for ``n`` customers (vectorized; favourites drawn without replacement, by weight)."""
    k = min(TASTE_CATEGORIES, len(categories))
    p = weights / weights.sum()
    # Gumbel top-k: k distinct categories per customer, each drawn with probability by weight
    keys = np.log(p)[None, :] - np.log(-np.log(rng.random((n, len(categories)))))
    order = np.argsort(-keys, axis=1)
    start_idx = order[:, :k]
    start_w = rng.gamma(TASTE_CONCENTRATION, size=(n, k))
    start_w /= start_w.sum(axis=1, keepdims=True)
    end_idx = start_idx.copy()
    swap = rng.random(n) < TASTE_DRIFT_SHARE
    slot = rng.integers(k, size=n)
    end_idx[swap, slot[swap]] = order[swap, k]  # the next category of the customer's own draw
    end_w = np.clip(start_w + rng.normal(0.0, 0.1, size=(n, k)), 0.02, None)
    end_w /= end_w.sum(axis=1, keepdims=True)
    return Tastes(categories, start_idx, start_w, end_idx, end_w)


def category_samplers(catalog: Catalog, sellable: np.ndarray, categories: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per taste category: (product indices, cumulative popularity) to draw a product within it."""
    out = []
    for c in categories:
        idx = np.nonzero(sellable & (catalog.categories == c))[0]
        cdf = np.cumsum(catalog.popularity[idx])
        out.append((idx, cdf / cdf[-1]))
    return out


def taste_products(rng: np.random.Generator, tastes: Tastes, samplers: list[tuple[np.ndarray, np.ndarray]],
                   cust: np.ndarray, drift: np.ndarray, products: np.ndarray,
                   orders: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """``products`` (one per line) with the taste-drawn ones put in; returns them and how many.

    ``cust`` is the customer index of each line (-1 for guests and lines the taste leaves alone),
    ``drift`` the weight of the end taste at the line's time (0 at the customer's start, 1 at the end).
    With ``orders`` (order of each line), a taste-drawn product that repeats one already on its order
    is drawn again (up to three times), so orders keep their planned number of distinct lines.
    """
    out = products.copy()
    use = (cust >= 0) & (rng.random(len(out)) < TASTE_STRENGTH)
    n_used = _draw_from_taste(rng, tastes, samplers, cust, drift, out, np.nonzero(use)[0])
    if orders is not None:
        for _ in range(3):
            key = orders.astype(np.int64) * (int(out.max()) + 1) + out
            order = np.argsort(key, kind="stable")
            repeat = np.zeros(len(out), dtype=bool)
            repeat[order[1:][key[order][1:] == key[order][:-1]]] = True
            redo = np.nonzero(repeat & use)[0]
            if len(redo) == 0:
                break
            _draw_from_taste(rng, tastes, samplers, cust, drift, out, redo)
    return out, n_used


def _draw_from_taste(rng: np.random.Generator, tastes: Tastes, samplers: list[tuple[np.ndarray, np.ndarray]],
                     cust: np.ndarray, drift: np.ndarray, out: np.ndarray, lines: np.ndarray) -> int:
    """Draw ``out[lines]`` from the customers' tastes in place; returns how many had a taste."""
    c = cust[lines]
    late = rng.random(len(lines)) < drift[lines]
    idx = np.where(late[:, None], tastes.end_idx[c], tastes.start_idx[c])
    w = np.where(late[:, None], tastes.end_w[c], tastes.start_w[c])
    cdf = np.cumsum(w, axis=1)
    u = rng.random(len(lines)) * cdf[:, -1]
    slot = np.minimum((cdf < u[:, None]).sum(axis=1), idx.shape[1] - 1)
    has = cdf[:, -1] > 0
    category = idx[np.arange(len(lines)), slot]
    u2 = rng.random(len(lines))
    for g, (members, member_cdf) in enumerate(samplers):
        sel = np.nonzero(has & (category == g))[0]
        if len(sel):
            pick = np.minimum(np.searchsorted(member_cdf, u2[sel], side="right"), len(members) - 1)
            out[lines[sel]] = members[pick]
    return int(has.sum())


def choose_sequences(rng: np.random.Generator, catalog: Catalog, profile_name: str, sellable: np.ndarray,
                     exclude: set[int]) -> list[dict[str, Any]]:
    """The planted (A, B) pairs: product indices, window in days and probability."""
    if profile_name == "services":
        return _services_chain(catalog, sellable)
    pool = np.array([i for i in np.nonzero(sellable)[0] if i not in exclude])
    ranked = pool[np.argsort(-catalog.popularity[pool], kind="stable")]
    middle = ranked[len(ranked) // 100: len(ranked) // 20]  # popular, not the very best sellers
    picks = rng.choice(middle, size=min(len(middle), 6 * RETAIL_SEQUENCES), replace=False)
    out: list[dict[str, Any]] = []
    used: set[int] = set()
    for a in picks.tolist():
        if len(out) >= RETAIL_SEQUENCES or a in used:
            continue
        b = next((x for x in picks.tolist() if x not in used and x != a
                  and catalog.categories[x] != catalog.categories[a]), None)
        if b is None:
            break
        used.update((a, b))
        out.append({"a": a, "b": b, "within_days": SEQUENCE_WITHIN_DAYS, "probability": SEQUENCE_PROBABILITY})
    return out


def _services_chain(catalog: Catalog, sellable: np.ndarray) -> list[dict[str, Any]]:
    """The chain's steps sold as order lines; monthly services (bookkeeping, tax filing) are billed by their
    contracts' recurring invoices only, so the chain skips them (registration, then annual report, then
    trademark)."""
    code_to_idx = {c: i for i, c in enumerate(catalog.codes.tolist()) if sellable[i]}
    out = []
    for variant in ("BL", "BG", "BF", "SL", "SG", "SF", "PL", "PG", "PF"):
        steps = [f"{stem}-{variant}" for stem in SERVICES_CHAIN]
        steps[-1] = f"{SERVICES_CHAIN[-1]}-{variant[0]}L"  # trademarks come for limited companies only
        steps = [step for step in steps if step in code_to_idx]
        for a, b in zip(steps[:-1], steps[1:], strict=True):
            out.append({"a": code_to_idx[a], "b": code_to_idx[b], "within_days": SERVICES_CHAIN_WITHIN_DAYS,
                        "probability": SERVICES_CHAIN_PROBABILITY})
    return out


def next_orders(o_cust: np.ndarray, o_ts: np.ndarray) -> np.ndarray:
    """Index of each order's customer's next order (-1 for the last one and for guests)."""
    m = len(o_cust)
    perm = np.lexsort((np.arange(m), o_ts, o_cust))
    nxt = np.full(m, -1, dtype=np.int64)
    same = (o_cust[perm[1:]] == o_cust[perm[:-1]]) & (o_cust[perm[:-1]] >= 0)
    nxt[perm[:-1][same]] = perm[1:][same]
    return nxt


def plant_sequences(rng: np.random.Generator, sequences: list[dict[str, Any]], oi: np.ndarray, pi: np.ndarray,
                    o_cust: np.ndarray, o_ts: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lines (order index, product index) to add so that B follows A; updates each pair's counts.

    The pairs are applied in order, so a chain's later step sees the earlier steps' added lines.
    Only ``eligible`` orders (ordinary, not cancelled) take part: A in one of them, B added to the
    customer's next eligible order.
    """
    o_cust = np.where(eligible, o_cust, -1)
    nxt = next_orders(o_cust, o_ts)
    add_o: list[np.ndarray] = []
    add_p: list[np.ndarray] = []
    cur_o, cur_p = oi, pi
    for seq in sequences:
        holders = np.unique(cur_o[cur_p == seq["a"]])
        holders = holders[o_cust[holders] >= 0]
        follow = nxt[holders]
        ok = follow >= 0
        ok[ok] &= (o_ts[follow[ok]] - o_ts[holders[ok]]) <= seq["within_days"] * DAY
        hit = ok & (rng.random(len(holders)) < seq["probability"])
        target = follow[hit]
        seq["orders_with_a"] = int(len(holders))
        seq["next_order_within_window"] = int(ok.sum())
        seq["orders_given_b"] = int(len(target))
        add_o.append(target)
        add_p.append(np.full(len(target), seq["b"], dtype=np.int64))
        cur_o = np.concatenate([cur_o, target])
        cur_p = np.concatenate([cur_p, add_p[-1]])
    if not add_o:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(add_o), np.concatenate(add_p)


def sequences_truth(sequences: list[dict[str, Any]], catalog: Catalog) -> list[dict[str, Any]]:
    """The planted pairs as written to the ground truth (product codes and names, realized counts)."""
    out = []
    for s in sequences:
        out.append({
            "antecedent_code": str(catalog.codes[s["a"]]), "consequent_code": str(catalog.codes[s["b"]]),
            "antecedent_name": str(catalog.names[s["a"]]), "consequent_name": str(catalog.names[s["b"]]),
            "within_days": s["within_days"], "probability": s["probability"],
            "orders_with_antecedent": s.get("orders_with_a", 0),
            "next_order_within_window": s.get("next_order_within_window", 0),
            "orders_given_consequent": s.get("orders_given_b", 0),
        })
    return out


def taste_truth(tastes: Tastes, codes: list[str], lines_from_taste: int) -> dict[str, Any]:
    return {
        "process": "each ordinary line of a customer's order is drawn from the customer's taste with probability "
                   "strength: a favourite category (weights of the start taste, or of the end taste with "
                   "probability = elapsed share of the customer's history), then a product within it by "
                   "popularity; other lines by popularity over the whole catalogue",
        "strength": TASTE_STRENGTH, "favourite_categories": TASTE_CATEGORIES,
        "dirichlet_alpha": TASTE_CONCENTRATION, "drift_share": TASTE_DRIFT_SHARE,
        "lines_from_taste": lines_from_taste,
        "categories": tastes.categories.tolist(),
        "customers_format": "customer code -> [start categories, start weights, end categories, end weights]",
        "customers": tastes.to_truth(codes),
    }


def advance_products(rng: np.random.Generator, truth: dict[str, Any] | None, catalog: Catalog, profile_name: str,
                     prod_code: np.ndarray, cust_code: list[str], line_order: np.ndarray, line_product: np.ndarray,
                     order_cust: np.ndarray, order_ts: np.ndarray, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``demo advance``: re-draw its ordinary lines from the customers' (end) tastes and plant the sequences
    inside the window. Positions are into the source's products (``prod_code``); customers missing from
    the ground truth (new ones) get a taste drawn now and recorded. Returns the lines' products and the
    added (order, product) lines. Without a ground truth nothing changes."""
    empty = np.zeros(0, dtype=np.int64)
    if not truth or "taste" not in truth:
        return line_product, empty
    block = truth["taste"]
    known = block.setdefault("customers", {})
    new = [c for c in cust_code if c not in known]
    sellable = sellable_mask(catalog, profile_name)
    categories = np.array(block["categories"], dtype=object)
    if new:
        weight = np.array([catalog.popularity[sellable & (catalog.categories == c)].sum() for c in categories])
        known.update(draw_tastes(rng, len(new), categories, weight).to_truth(new))
    tastes = Tastes.from_truth(block, cust_code)
    code_to_src = {c: i for i, c in enumerate(prod_code.tolist())}
    samplers = []
    for idx, _cdf in category_samplers(catalog, sellable, categories):
        src = np.array([code_to_src.get(str(catalog.codes[i]), -1) for i in idx])
        ok = src >= 0
        cdf_ok = np.cumsum(catalog.popularity[idx[ok]]) if ok.any() else np.array([1.0])
        samplers.append((src[ok] if ok.any() else np.array([0]), cdf_ok / cdf_ok[-1]))
    cust = order_cust[line_order]
    products, _ = taste_products(rng, tastes, samplers, cust, np.ones(len(line_order)), line_product, line_order)
    sequences = []
    for s in truth.get("sequences", []):
        a, b = code_to_src.get(s["antecedent_code"]), code_to_src.get(s["consequent_code"])
        if a is not None and b is not None:
            sequences.append({"a": a, "b": b, "within_days": s["within_days"], "probability": s["probability"]})
    add_o, add_p = plant_sequences(rng, sequences, line_order, products, order_cust, order_ts, eligible)
    return products, np.stack([add_o, add_p]) if len(add_o) else np.zeros((2, 0), dtype=np.int64)
