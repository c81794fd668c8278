"""The sparse counter on repeated baskets: merged duplicates, deep itemsets, parity with mlxtend."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import transforms.association as association
from transforms.association import frequent_itemsets
from transforms.baskets import baskets_from_lists


def _random_baskets(seed: int, n_distinct: int, repeats: int) -> list[list[str]]:
    """``n_distinct`` random baskets over 12 items (up to 9 each), each repeated 1..``repeats`` times, shuffled."""
    rng = np.random.default_rng(seed)
    items = [f"I{i:02d}" for i in range(12)]
    distinct = [list(rng.choice(items, size=int(rng.integers(1, 10)), replace=False)) for _ in range(n_distinct)]
    baskets = [b for b in distinct for _ in range(int(rng.integers(1, repeats + 1)))]
    return [baskets[i] for i in rng.permutation(len(baskets))]


def _as_dict(frame) -> dict[tuple[str, ...], int]:
    return dict(zip(frame["itemset"], frame["count"], strict=True))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dense_cells", [association.DENSE_MAX_CELLS, 0])
def test_duplicate_baskets_max_len_10_equal_mlxtend(seed: int, dense_cells: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(association, "DENSE_MAX_CELLS", dense_cells)  # 0: every block stays sparse
    data = baskets_from_lists(_random_baskets(seed, n_distinct=60, repeats=6))
    for min_count in (6, 15):
        expected = _as_dict(frequent_itemsets(data, min_count, 10, counter="mlxtend"))
        got = _as_dict(frequent_itemsets(data, min_count, 10, counter="sparse"))
        assert got == expected
        assert max(len(k) for k in got) >= 4  # the case reaches deep levels


def test_distinct_rows_keep_every_basket_once_with_its_multiplicity() -> None:
    rows = [[0, 1], [1, 2, 3], [0, 1], [4], [1, 2, 3], [0, 1], [2, 3]]
    x = _csr(rows, 5)
    distinct, weight = association._distinct_rows(x)
    got = {tuple(distinct.indices[distinct.indptr[i]:distinct.indptr[i + 1]]): int(w) for i, w in enumerate(weight)}
    assert got == {(0, 1): 3, (1, 2, 3): 2, (2, 3): 1}  # the one-item basket is left out


def test_key_collisions_fall_back_to_unmerged_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    # every item the same key: all rows of one length collide, the item check must catch it
    monkeypatch.setattr(association, "_row_keys", lambda n: np.ones(n, dtype=np.uint64))
    rows = [[0, 1], [2, 3], [0, 1]]
    distinct, weight = association._distinct_rows(_csr(rows, 4))
    assert distinct.shape[0] == 3 and weight is None  # every row as it is, each counted once
    data = baskets_from_lists(_random_baskets(3, n_distinct=40, repeats=4))
    assert _as_dict(frequent_itemsets(data, 5, 10, counter="sparse")) == \
        _as_dict(frequent_itemsets(data, 5, 10, counter="mlxtend"))


def test_few_duplicates_are_not_merged() -> None:
    rows = [[0, 1], [1, 2], [2, 3], [0, 3], [0, 1]]  # 4 distinct of 5: merging saves too little
    distinct, weight = association._distinct_rows(_csr(rows, 4))
    assert distinct.shape[0] == 5 and weight is None


def _csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([i for r in rows for i in r], dtype=np.int32)
    return sp.csr_matrix((np.ones(len(indices), dtype=np.int64), indices, indptr), shape=(len(rows), n_items))
