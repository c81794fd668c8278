"""Synthetic basket sets with planted bundles, for tests and benchmarks (never used by the pipeline).

Shape: ``n_products`` items with Zipf-like popularity (exponent ``zipf``), basket sizes ``1 + Poisson(
mean_size - 1)`` drawn independently from that popularity, and ``n_bundles`` planted bundles of 2-3
items: a basket receives a bundle with probability ``bundle_rate`` (bundle chosen uniformly), each of
the bundle's items kept with probability ``bundle_keep``. Deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transforms.baskets import BasketSet, baskets_from_pairs


@dataclass(frozen=True)
class SyntheticBaskets:
    baskets: BasketSet
    bundles: list[tuple[str, ...]]


def synthesize_baskets(n_baskets: int, n_products: int = 500, mean_size: float = 4.0, zipf: float = 1.0,
                       n_bundles: int = 10, bundle_rate: float = 0.15, bundle_keep: float = 0.9,
                       seed: int = 0) -> SyntheticBaskets:
    rng = np.random.default_rng(seed)
    names = np.array([f"P{i:05d}" for i in range(n_products)], dtype=object)
    weights = 1.0 / np.arange(1, n_products + 1) ** zipf
    weights /= weights.sum()
    sizes = 1 + rng.poisson(max(mean_size - 1.0, 0.0), n_baskets)
    rows = np.repeat(np.arange(n_baskets, dtype=np.int64), sizes)
    cols = rng.choice(n_products, size=int(sizes.sum()), p=weights)
    # Bundles from the middle of the popularity range, so they are not frequent by popularity alone.
    pool = rng.permutation(np.arange(n_products // 10, n_products))
    bundles: list[np.ndarray] = []
    start = 0
    for b in range(n_bundles):
        size = 2 + (b % 2)
        bundles.append(np.sort(pool[start:start + size]))
        start += size
    extra_rows: list[np.ndarray] = []
    extra_cols: list[np.ndarray] = []
    if n_bundles:
        holders = np.flatnonzero(rng.random(n_baskets) < bundle_rate)
        chosen = rng.integers(0, n_bundles, len(holders))
        for b, items in enumerate(bundles):
            who = holders[chosen == b]
            for item in items:
                kept = who[rng.random(len(who)) < bundle_keep]
                extra_rows.append(kept)
                extra_cols.append(np.full(len(kept), item))
    all_rows = np.concatenate([rows, *extra_rows])
    all_cols = np.concatenate([cols, *extra_cols])
    baskets = baskets_from_pairs(all_rows, names[all_cols])
    return SyntheticBaskets(baskets=baskets, bundles=[tuple(names[b].tolist()) for b in bundles])
