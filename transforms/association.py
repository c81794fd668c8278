"""Frequent itemsets and association rules with exact, inclusive thresholds.

Itemsets come from mlxtend's FP-growth on a sparse encoding (a pandas frame of ``Sparse[bool]``
columns built from the scipy CSR basket matrix), or from an equivalent vertical counter on the same
CSR matrix (``counter="sparse"``: sparse matrix products, depth first; it returns exactly mlxtend's
itemsets and counts, which the tests check, and is the one used for large inputs; it merges identical
baskets into weighted rows when many repeat). No dense baskets x items matrix is built by our code (the
sparse counter makes dense blocks only of small sub-problems: the baskets holding a prefix, over its
candidate items, at most ``DENSE_MAX_CELLS`` cells). (mlxtend's own ``fpgrowth`` densifies its input once
while counting single items; we hand it only the columns of frequent items.)

Thresholds are exact and inclusive, decided on integer counts:

* ``min_support`` is a fraction of baskets (a float in (0, 1]) or an absolute count (an ``int`` >= 1);
  a fraction becomes the least integer count ``ceil(fraction * N)`` computed with exact rationals.
* ``min_confidence`` and ``min_lift`` are read as the decimal written (``Fraction(str(x))``: 0.8 is
  4/5), and compared as ``both * den >= num * antecedent`` and
  ``both * N * den >= num * antecedent * consequent`` in integers.

Rule metrics: support, confidence, lift, leverage, conviction (NaN, stored as NULL, when confidence
is 1: infinite), Zhang's metric (0 when its denominator is 0, as mlxtend), Jaccard, the integer counts,
the one-sided Fisher exact test p-value (hypergeometric upper tail, equal to
``scipy.stats.fisher_exact(table, alternative="greater")``), its Benjamini-Hochberg q-value over every
candidate rule of the run (all splits of the frequent itemsets with a consequent of allowed size,
before the confidence and lift filters), a redundancy flag (a rule with the same consequent and an
antecedent that is a proper subset has at least the same confidence), Webb's improvement (confidence
minus the best confidence of any more general rule with the same consequent, the empty antecedent
included, whose confidence is the consequent's support), ``productivity_p`` (Webb's test: for each
antecedent item, a one-sided Fisher test among the baskets holding the rest of the antecedent; the
largest p-value; for one-item antecedents the rule's own Fisher p-value; NaN (NULL) for a longer rule
that is redundant or not better than a generalization anyway), ``is_productive``
(improvement > 0 decided on integer counts, no redundancy, and ``productivity_p <= fdr_alpha``), and
``lift_lower``, the ranking measure: the lower end of the 95% Wilson
interval of the confidence divided by the consequent's support (a lift that a handful of baskets
cannot inflate). Rules come sorted by ``lift_lower``.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats as sstats

from transforms.association_params import (  # noqa: F401 - the parameters' home, re-exported for callers
    COUNTERS,
    MiningParameterError,
    MiningParams,
    exact,
    parse_support,
    support_count,
)
from transforms.baskets import BasketSet

# "auto" uses mlxtend's FP-growth up to this many (basket, frequent item) cells, the sparse counter above.
AUTO_MLXTEND_MAX_CELLS = 2_000_000


# --------------------------------------------------------------------------------------------------
# Encoding and itemsets
# --------------------------------------------------------------------------------------------------

def sparse_frame(matrix: sp.spmatrix, columns: Sequence[str]) -> pd.DataFrame:
    """A one-hot frame of ``Sparse[bool]`` columns straight from a CSR/CSC matrix (never dense)."""
    frame = pd.DataFrame.sparse.from_spmatrix(sp.csc_matrix(matrix, dtype=bool), columns=list(columns))
    return frame


def _frequent_columns(baskets: BasketSet, min_count: int) -> np.ndarray:
    return np.flatnonzero(baskets.item_counts() >= min_count)


def _itemsets_mlxtend(matrix: sp.csr_matrix, n: int, min_count: int, max_len: int | None) -> list[tuple[tuple[int, ...], int]]:
    from mlxtend.frequent_patterns import fpgrowth

    if matrix.shape[1] == 0:
        return []
    frame = sparse_frame(matrix, [str(i) for i in range(matrix.shape[1])])
    # Just below count/N, so mlxtend's float comparison cannot lose an itemset at exactly the count.
    result = fpgrowth(frame, min_support=(min_count - 0.5) / n, use_colnames=False, max_len=max_len)
    counts = np.rint(result["support"].to_numpy() * n).astype(np.int64)
    out = []
    for itemset, count in zip(result["itemsets"], counts, strict=True):
        if count >= min_count:
            out.append((tuple(sorted(int(i) for i in itemset)), int(count)))
    return out


# Sub-problems (the baskets holding a prefix, over its candidate items) of at most this many cells and
# at least this share of ones are counted on a dense float64 block (exact: every count is an integer
# below 2**53); the others, and the whole basket matrix, stay sparse.
DENSE_MAX_CELLS = 1 << 18
DENSE_MIN_DENSITY = 0.1
# Identical baskets are merged only when that leaves at most this share of the rows.
MERGE_MAX_SHARE = 0.75


def _row_keys(n_items: int) -> np.ndarray:
    """Random 64-bit keys per item whose sums tell rows apart (fixed seed: runs are reproducible)."""
    return np.random.default_rng(0).integers(1, 2**63, size=n_items, dtype=np.uint64)


def _distinct_rows(x: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """The distinct rows of ``x`` holding at least two items and how many rows each stands for.

    ``x`` is 0/1 with sorted indices. Rows are grouped by a 64-bit sum of random per-item keys, then
    every row is checked against its group's first row item by item; on a collision, or when merging
    would keep more than ``MERGE_MAX_SHARE`` of those rows, ``x`` comes back as it is with no weights
    (every row counts once), so the result is always exact.
    """
    indptr, indices = x.indptr, x.indices
    lengths = np.diff(indptr)
    keep = np.flatnonzero(lengths >= 2)
    if len(keep) == 0:
        return x[keep], np.zeros(0, dtype=np.int64)
    # per-row key sums (uint64 wraps); rows of fewer than two items are never read
    summed = np.add.reduceat(_row_keys(x.shape[1])[indices], np.minimum(indptr[:-1], len(indices) - 1))
    hashed = summed[keep] + lengths[keep].astype(np.uint64)
    _, first, inverse, weight = np.unique(hashed, return_index=True, return_inverse=True, return_counts=True)
    if len(first) > MERGE_MAX_SHARE * len(keep):
        return x, None
    rep, kept_len = keep[first[inverse.ravel()]], lengths[keep]
    if not np.array_equal(lengths[rep], kept_len):
        return x, None
    small = np.int32 if len(indices) < 2**31 else np.int64
    pos = (np.arange(len(indices), dtype=small) if len(keep) == x.shape[0]
           else np.flatnonzero(np.repeat(lengths >= 2, lengths)).astype(small))
    pos_rep = pos + np.repeat((indptr[rep] - indptr[keep]).astype(small), kept_len)
    if not np.array_equal(indices[pos], indices[pos_rep]):
        return x, None
    return x[keep[first]], weight.astype(np.int64)


def _canonical_01(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` as 0/1 int32 CSR with sorted indices and no repeats (no copy of the index arrays
    when it already is canonical and holds no explicit zeros)."""
    if matrix.has_canonical_format and matrix.data.all():
        return sp.csr_matrix((np.ones(len(matrix.indices), dtype=np.int32), matrix.indices, matrix.indptr),
                             shape=matrix.shape)
    x = sp.csr_matrix(matrix, dtype=np.int32, copy=True)
    x.eliminate_zeros()
    x.sum_duplicates()
    x.data[:] = 1
    return x


def _dense_block(sub: sp.csr_matrix) -> np.ndarray:
    """A small 0/1 CSR block as a dense float64 array (built from its indices)."""
    block = np.zeros(sub.shape, dtype=np.float64)
    block[np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr)), sub.indices] = 1.0
    return block


def _pairs_sparse(sub: sp.csr_matrix, w: np.ndarray | None,
                  min_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequent pairs (b < c, weighted count) of a sparse block, sorted by (b, c)."""
    left = sub
    if w is not None:
        left = sp.csr_matrix((np.repeat(w, np.diff(sub.indptr)), sub.indices, sub.indptr), shape=sub.shape)
    gram = sp.triu(left.T @ sub, k=1, format="coo")
    keep = gram.data >= min_count
    rows, cols, vals = gram.row[keep], gram.col[keep], gram.data[keep]
    sort = np.lexsort((cols, rows))
    return rows[sort], cols[sort], vals[sort].astype(np.int64)


def _pairs_dense(block: np.ndarray, w: np.ndarray | None,
                 min_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequent pairs (b < c, weighted count) of a dense block, sorted by (b, c)."""
    left = block if w is None else block * w[:, None]
    gram = left.T @ block
    rows, cols = np.nonzero(np.triu(gram >= min_count - 0.5, k=1))
    return rows, cols, np.rint(gram[rows, cols]).astype(np.int64)


class _Miner:
    """Depth-first vertical counting over (weighted) baskets (see ``_itemsets_sparse``)."""

    def __init__(self, order: np.ndarray, min_count: int, limit: int) -> None:
        self.order = order
        self.min_count = min_count
        self.limit = limit
        self.out: list[tuple[tuple[int, ...], int]] = []

    def grow(self, prefix: tuple[int, ...], sub: sp.csr_matrix | np.ndarray, w: np.ndarray | None,
             cand: np.ndarray) -> None:
        dense = isinstance(sub, np.ndarray)
        rows, cols, vals = (_pairs_dense if dense else _pairs_sparse)(sub, w, self.min_count)
        if len(vals) == 0:
            return
        deeper = len(prefix) + 2 < self.limit
        csc = None if dense or not deeper else sub.tocsc()
        change = (np.flatnonzero(rows[1:] != rows[:-1]) + 1).tolist()
        names = self.order[cand].tolist()
        cols_l, vals_l = cols.tolist(), vals.tolist()
        for s, e in zip([0, *change], [*change, len(rows)], strict=True):
            b = int(rows[s])
            base = (*prefix, names[b])
            self.out.extend(((*base, names[c]), v) for c, v in zip(cols_l[s:e], vals_l[s:e], strict=True))
            if deeper and e - s >= 2:
                local = cols[s:e]
                if dense:
                    holding = np.flatnonzero(sub[:, b])
                    if e - s == 2:  # one pair left: count it here, nothing can extend it further
                        self._last_pair(base, sub[holding][:, local], None if w is None else w[holding], cand[local])
                        continue
                    self._descend(base, sub[holding][:, local], None if w is None else w[holding], cand[local])
                else:
                    holding = csc.indices[csc.indptr[b]:csc.indptr[b + 1]]
                    self._descend(base, sub[holding][:, local], None if w is None else w[holding], cand[local])

    def _last_pair(self, prefix: tuple[int, ...], block: np.ndarray, w: np.ndarray | None, cand: np.ndarray) -> None:
        """The itemset prefix + both candidates of a two-column dense block, when frequent."""
        both = block[:, 0] * block[:, 1]
        count = int(round(float(both.sum() if w is None else both @ w)))
        if count >= self.min_count:
            self.out.append(((*prefix, int(self.order[cand[0]]), int(self.order[cand[1]])), count))

    def _descend(self, prefix: tuple[int, ...], sub: sp.csr_matrix | np.ndarray, w: np.ndarray | None,
                 cand: np.ndarray) -> None:
        """Recurse; dense blocks drop the rows holding fewer than two candidates (they add no pair)."""
        if isinstance(sub, sp.csr_matrix):
            cells = sub.shape[0] * sub.shape[1]
            if cells > DENSE_MAX_CELLS or sub.nnz < DENSE_MIN_DENSITY * cells:
                self.grow(prefix, sub, w, cand)
                return
            sub = _dense_block(sub)
            w = None if w is None else w.astype(np.float64)
        useful = np.count_nonzero(sub, axis=1) >= 2
        self.grow(prefix, sub[useful], None if w is None else w[useful], cand)


def _itemsets_sparse(matrix: sp.csr_matrix, min_count: int, max_len: int | None) -> list[tuple[tuple[int, ...], int]]:
    """Depth-first vertical counting with sparse products (same itemsets and counts as FP-growth).

    Items are ordered by ascending count. When many baskets repeat, baskets with fewer than two items
    are left out of the search (they only count singles) and identical ones are merged into one row with
    a weight. A node is a prefix P, the baskets holding P (restricted to the candidate items c that
    extend P frequently) with their weights w and those candidates; ``Xᵀ diag(w) X`` of that block counts
    every P + {b, c} at once. Blocks below the root that are small and not too sparse are dense.
    """
    n_items = matrix.shape[1]
    if n_items == 0:
        return []
    x = _canonical_01(sp.csr_matrix(matrix))
    counts = np.bincount(x.indices, minlength=n_items).astype(np.int64)
    order = np.argsort(counts, kind="stable")
    limit = max_len if max_len is not None else n_items
    miner = _Miner(order, min_count, limit)
    miner.out.extend(((int(order[i]),), int(counts[order[i]])) for i in range(n_items))
    if limit >= 2:
        rows, weight = _distinct_rows(x)
        if rows.shape[0]:
            rank = np.empty(n_items, dtype=np.int32)
            rank[order] = np.arange(n_items, dtype=np.int32)
            rows = sp.csr_matrix((rows.data, rank[rows.indices], rows.indptr), shape=rows.shape)
            rows.sort_indices()
            miner.grow((), rows, None if weight is None else weight.astype(np.int32), np.arange(n_items))
    return [(tuple(sorted(items)), c) for items, c in miner.out]


def frequent_itemsets(baskets: BasketSet, min_count: int, max_len: int | None = 3,
                      counter: str = "auto") -> pd.DataFrame:
    """Frequent itemsets: ``itemset`` (sorted tuple of item names), ``length``, ``count``, ``support``."""
    if counter not in COUNTERS:
        raise MiningParameterError(f"counter must be one of {', '.join(COUNTERS)}, not {counter!r}")
    n = baskets.n_baskets
    columns = _frequent_columns(baskets, min_count)
    matrix = baskets.matrix[:, columns].tocsr()
    if counter == "auto":
        counter = "mlxtend" if matrix.shape[0] * matrix.shape[1] <= AUTO_MLXTEND_MAX_CELLS else "sparse"
    if counter == "mlxtend":
        found = _itemsets_mlxtend(matrix, n, min_count, max_len)
    else:
        found = _itemsets_sparse(matrix, min_count, max_len)
    names = baskets.items[columns]
    itemsets = [tuple(sorted(names[list(items)].tolist())) for items, _ in found]
    counts = np.array([c for _, c in found], dtype=np.int64)
    frame = pd.DataFrame({
        "itemset": pd.Series(itemsets, dtype=object),
        "length": np.array([len(i) for i in itemsets], dtype=np.int64),
        "count": counts,
    })
    frame["support"] = frame["count"] / n if n else np.nan
    return frame.sort_values(["length", "count", "itemset"], ascending=[True, False, True], ignore_index=True)


# --------------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------------

RULE_COLUMNS: tuple[str, ...] = (
    "rule_id", "antecedent", "consequent", "antecedent_len", "consequent_len",
    "antecedent_count", "consequent_count", "both_count", "n_baskets",
    "support", "confidence", "lift", "leverage", "conviction", "zhangs_metric", "jaccard",
    "fisher_p", "fisher_q", "is_significant", "is_redundant", "improvement", "productivity_p", "is_productive",
    "lift_lower",
)
# z of the two-sided 95% Wilson interval used by ``lift_lower`` (the rules' ranking measure).
WILSON_Z = 1.959963984540054


def wilson_lower(successes: np.ndarray, trials: np.ndarray, z: float = WILSON_Z) -> np.ndarray:
    """Lower end of the Wilson score interval of a binomial proportion (0 when there are no trials)."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = p + z * z / (2 * n)
        margin = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low = (centre - margin) / (1 + z * z / n)
    return np.where(n > 0, np.clip(low, 0.0, 1.0), 0.0)


def rule_id(antecedent: Sequence[str], consequent: Sequence[str]) -> str:
    """A stable id for a rule from its item names (same rule, same id, in every run and engine)."""
    text = "\x1f".join(sorted(antecedent)) + "\x1e" + "\x1f".join(sorted(consequent))
    # the "r" prefix keeps an id from ever being all digits (which reads like a number or a phone)
    return "r" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _ge_products(left: list[np.ndarray], right: list[np.ndarray]) -> np.ndarray:
    """Elementwise prod(left) >= prod(right) in exact integer arithmetic (no overflow)."""
    bound = 2 ** 62
    def fits(arrays: list[np.ndarray]) -> bool:
        top = 1
        for a in arrays:
            top *= int(np.max(np.abs(a))) if len(a) else 0
        return top < bound
    if fits(left) and fits(right):
        lp = np.ones(len(left[0]), dtype=np.int64)
        rp = np.ones(len(left[0]), dtype=np.int64)
        for a in left:
            lp = lp * a.astype(np.int64)
        for a in right:
            rp = rp * a.astype(np.int64)
        return lp >= rp
    lo = np.ones(len(left[0]), dtype=object)
    ro = np.ones(len(left[0]), dtype=object)
    for a in left:
        lo = lo * a.astype(object)
    for a in right:
        ro = ro * a.astype(object)
    return np.asarray(lo >= ro, dtype=bool)


def association_rules(itemsets: pd.DataFrame, n_baskets: int, min_confidence: float = 0.0,
                      min_lift: float = 0.0, max_consequent: int = 1, fdr_alpha: float = 0.05) -> pd.DataFrame:
    """Rules from frequent itemsets (the output of ``frequent_itemsets``), exact thresholds."""
    count_of: dict[tuple[str, ...], int] = dict(zip(itemsets["itemset"], itemsets["count"].astype(int), strict=True))
    ante_l: list[tuple[str, ...]] = []
    cons_l: list[tuple[str, ...]] = []
    for itemset, length in zip(itemsets["itemset"], itemsets["length"], strict=True):
        if length < 2:
            continue
        for k in range(1, min(max_consequent, length - 1) + 1):
            for consequent in itertools.combinations(itemset, k):
                antecedent = tuple(i for i in itemset if i not in consequent)
                ante_l.append(antecedent)
                cons_l.append(consequent)
    return score_rules(ante_l, cons_l, count_of, n_baskets, min_confidence, min_lift, fdr_alpha)


def empty_rules() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in RULE_COLUMNS})


def score_rules(ante_l: list[tuple[str, ...]], cons_l: list[tuple[str, ...]], count_of: dict[tuple[str, ...], int],
                n_baskets: int, min_confidence: float = 0.0, min_lift: float = 0.0,
                fdr_alpha: float = 0.05) -> pd.DataFrame:
    """Metrics, tests and exact filters for candidate rules (sorted item tuples) given itemset counts.

    ``count_of`` maps every frequent itemset (sorted tuple of names) to its basket count; the
    candidates are the whole multiple-testing family.
    """
    if not ante_l:
        return empty_rules()
    both = np.array([count_of[tuple(sorted(a + c))] for a, c in zip(ante_l, cons_l, strict=True)], dtype=np.int64)
    ante = np.array([count_of[a] for a in ante_l], dtype=np.int64)
    cons = np.array([count_of[c] for c in cons_l], dtype=np.int64)
    n = int(n_baskets)

    # Fisher exact test (one-sided, greater) over every candidate, then BH over the family.
    p = sstats.hypergeom.sf(both - 1, n, cons, ante)
    p = np.clip(p, 0.0, 1.0)
    q = sstats.false_discovery_control(p, method="bh") if len(p) else p

    conf = exact(min_confidence)
    lift = exact(min_lift)
    nn = np.full(len(both), n, dtype=np.int64)
    keep = _ge_products([both, np.full(len(both), conf.denominator)], [ante, np.full(len(both), conf.numerator)])
    keep &= _ge_products([both, nn, np.full(len(both), lift.denominator)],
                         [ante, cons, np.full(len(both), lift.numerator)])
    idx = np.flatnonzero(keep)
    both, ante, cons, p, q = both[idx], ante[idx], cons[idx], p[idx], q[idx]
    ante_l = [ante_l[i] for i in idx]
    cons_l = [cons_l[i] for i in idx]

    s_ac, s_a, s_c = both / n, ante / n, cons / n
    confidence = both / ante
    with np.errstate(divide="ignore", invalid="ignore"):
        lift_v = (both * n) / (ante.astype(np.float64) * cons)
        leverage = s_ac - s_a * s_c
        conviction = np.where(both < ante, (1.0 - s_c) / (1.0 - confidence), np.nan)
        denom = np.maximum(s_ac * (1 - s_a), s_a * (s_c - s_ac))
        zhang = np.where(denom == 0, 0.0, leverage / denom)
    jaccard = both / (ante + cons - both)

    # Generalizations: every proper subset Z of the antecedent, the empty one included (Z -> c has the
    # consequent's support as confidence). Redundant: some non-empty Z has at least this confidence.
    # Productive (Webb's improvement > 0): the rule's confidence beats every Z's, decided in integers.
    nn = np.full(len(both), n, dtype=np.int64)
    redundant = np.zeros(len(both), dtype=bool)
    productive = ~_ge_products([ante, cons], [both, nn])  # both * n > ante * cons: lift above 1, exactly
    best_sub = cons / n  # confidence of the best generalization, starting with the empty antecedent
    # Webb's test of productivity: for each item x of the antecedent, among the baskets holding the rest
    # of it, is the consequent more frequent with x (one-sided Fisher)? The worst p-value counts; a
    # one-item antecedent's only generalization is the empty one, whose test is fisher_p itself.
    prod_p = p.copy()
    t_rule, t_pop, t_succ = [], [], []
    for i, (a, c) in enumerate(zip(ante_l, cons_l, strict=True)):
        if len(a) < 2:
            continue
        b_i, a_i = int(both[i]), int(ante[i])
        for r in range(1, len(a)):
            for sub in itertools.combinations(a, r):
                sub_both, sub_ante = count_of[tuple(sorted(sub + c))], count_of[sub]
                if sub_both * a_i >= b_i * sub_ante:
                    redundant[i] = True
                best_sub[i] = max(best_sub[i], sub_both / sub_ante)
                if r == len(a) - 1:
                    t_rule.append(i)
                    t_pop.append(sub_ante)
                    t_succ.append(sub_both)
    productive &= ~redundant
    if t_rule:
        # the test only matters where the rule is productive so far (scipy's hypergeometric tail is a
        # Python loop per row): the others' productivity_p stays NULL
        rule_idx = np.array(t_rule)
        needed = productive[rule_idx]
        prod_p[np.unique(rule_idx[~needed])] = np.nan
        rule_idx = rule_idx[needed]
        sub_p = sstats.hypergeom.sf(both[rule_idx] - 1, np.array(t_pop)[needed], np.array(t_succ)[needed],
                                    ante[rule_idx])
        np.maximum.at(prod_p, rule_idx, np.clip(sub_p, 0.0, 1.0))

    frame = pd.DataFrame({
        # explicit dtype: with no rules an empty list would otherwise become float64
        "rule_id": pd.Series([rule_id(a, c) for a, c in zip(ante_l, cons_l, strict=True)], dtype=object),
        "antecedent": pd.Series(ante_l, dtype=object),
        "consequent": pd.Series(cons_l, dtype=object),
        "antecedent_len": np.array([len(a) for a in ante_l], dtype=np.int64),
        "consequent_len": np.array([len(c) for c in cons_l], dtype=np.int64),
        "antecedent_count": ante, "consequent_count": cons, "both_count": both,
        "n_baskets": np.full(len(both), n, dtype=np.int64),
        "support": s_ac, "confidence": confidence, "lift": lift_v, "leverage": leverage,
        "conviction": conviction, "zhangs_metric": zhang, "jaccard": jaccard,
        "fisher_p": p, "fisher_q": q, "is_significant": q <= fdr_alpha, "is_redundant": redundant,
        "improvement": confidence - best_sub, "productivity_p": prod_p,
        "is_productive": productive & (np.nan_to_num(prod_p, nan=1.0) <= fdr_alpha),
        # the ranking measure: lift with the confidence at the lower end of its 95% Wilson interval
        "lift_lower": wilson_lower(both, ante) / np.where(s_c > 0, s_c, np.nan),
    })
    return frame.sort_values(["lift_lower", "lift", "both_count", "rule_id"], ascending=[False, False, False, True],
                             ignore_index=True)


@dataclass(frozen=True)
class MiningResult:
    itemsets: pd.DataFrame
    rules: pd.DataFrame
    n_baskets: int
    min_count: int


def mine(baskets: BasketSet, params: MiningParams, fdr_alpha: float = 0.05) -> MiningResult:
    """Frequent itemsets and rules of a basket set with the given parameters."""
    params.validate()
    n = baskets.n_baskets
    if n == 0:
        raise MiningParameterError("no baskets to mine")
    min_count = support_count(params.min_support, n)
    itemsets = frequent_itemsets(baskets, min_count, params.max_len, params.counter)
    rules = association_rules(itemsets, n, params.min_confidence, params.min_lift, params.max_consequent, fdr_alpha)
    return MiningResult(itemsets=itemsets, rules=rules, n_baskets=n, min_count=min_count)


def pair_affinity(baskets: BasketSet, min_count: int = 1) -> pd.DataFrame:
    """Every item pair bought together in at least ``min_count`` baskets, with counts and lift."""
    n = baskets.n_baskets
    x = sp.csr_matrix(baskets.matrix, dtype=np.int32)
    counts = np.diff(x.tocsc().indptr).astype(np.int64)
    gram = sp.triu(x.T @ x, k=1, format="coo")
    keep = gram.data >= max(min_count, 1)
    a, b, both = gram.row[keep], gram.col[keep], gram.data[keep].astype(np.int64)
    names = baskets.items
    first = names[a].astype(str)
    second = names[b].astype(str)
    swap = first > second  # item_a < item_b by name
    item_a = np.where(swap, second, first)
    item_b = np.where(swap, first, second)
    count_a = np.where(swap, counts[b], counts[a])
    count_b = np.where(swap, counts[a], counts[b])
    frame = pd.DataFrame({
        "item_a": item_a, "item_b": item_b, "pair_count": both, "count_a": count_a, "count_b": count_b,
        "n_baskets": np.full(len(both), n, dtype=np.int64),
    })
    frame["support"] = both / n
    frame["confidence_a_to_b"] = both / count_a
    frame["confidence_b_to_a"] = both / count_b
    frame["lift"] = (both * n) / (count_a.astype(np.float64) * count_b)
    frame["jaccard"] = both / (count_a + count_b - both)
    return frame.sort_values(["lift", "pair_count", "item_a", "item_b"], ascending=[False, False, True, True],
                             ignore_index=True)
