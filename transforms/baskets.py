"""Baskets for market-basket mining: from sales lines (a basket is an order) or from a basket file.

A basket set is a sparse baskets x items boolean matrix (scipy CSR, one stored True per item present)
with the item names and basket ids beside it. Nothing here ever builds a dense baskets x items matrix.

Sales lines left out of baskets, each counted in ``BasketSet.stats``:
returns, lines of cancelled orders, zero or negative quantities, non-merchandise lines (the product
code is in ``settings.mining.non_merchandise_codes`` or ``is_merchandise`` is false) and lines with no
item (no product id, or no category at the category level). An item counts once per basket
(``duplicate_items``). Orders left with no item are not baskets.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from transforms.errors import CrmwhError

ITEM_LEVELS: tuple[str, ...] = ("product", "category")


class BasketInputError(CrmwhError):
    """Baskets cannot be built from the input (missing file, no baskets, missing columns)."""


@dataclass(frozen=True)
class BasketSet:
    """Baskets as a sparse boolean matrix (rows: baskets, columns: items)."""

    matrix: sp.csr_matrix
    items: np.ndarray  # item name (str) per column
    basket_ids: np.ndarray  # basket id per row
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def n_baskets(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[1])

    def item_counts(self) -> np.ndarray:
        """Number of baskets holding each item (column)."""
        return np.diff(self.matrix.tocsc().indptr).astype(np.int64)

    def subset(self, rows: np.ndarray) -> BasketSet:
        """The baskets at ``rows`` (boolean mask or positions), keeping only items they hold."""
        sub = self.matrix[rows]
        used = np.flatnonzero(np.diff(sub.tocsc().indptr) > 0)
        return BasketSet(
            matrix=sub[:, used].tocsr(),
            items=self.items[used],
            basket_ids=self.basket_ids[rows],
            stats={"baskets": int(sub.shape[0])},
        )

    def to_lists(self) -> list[list[str]]:
        """Each basket as a list of item names (for engines that take transactions)."""
        indptr, indices = self.matrix.indptr, self.matrix.indices
        return [self.items[indices[indptr[i]:indptr[i + 1]]].tolist() for i in range(self.n_baskets)]


def _from_codes(basket_codes: np.ndarray, item_codes: np.ndarray, basket_ids: np.ndarray,
                items: np.ndarray, stats: dict[str, int]) -> BasketSet:
    """CSR matrix from parallel (basket position, item position) arrays; duplicates counted once."""
    n_rows, n_cols = len(basket_ids), len(items)
    if len(basket_codes):
        key = basket_codes.astype(np.int64) * max(n_cols, 1) + item_codes.astype(np.int64)
        unique_key = np.unique(key)
        stats["duplicate_items"] = stats.get("duplicate_items", 0) + int(len(key) - len(unique_key))
        rows = unique_key // max(n_cols, 1)
        cols = unique_key % max(n_cols, 1)
    else:
        rows = cols = np.empty(0, dtype=np.int64)
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n_rows, n_cols))
    matrix.sort_indices()
    stats["baskets"] = n_rows
    stats["items"] = n_cols
    stats["basket_items"] = int(matrix.nnz)
    return BasketSet(matrix=matrix, items=np.asarray(items, dtype=object), basket_ids=np.asarray(basket_ids),
                     stats=stats)


def baskets_from_pairs(basket_ids: Sequence, items: Sequence, stats: dict[str, int] | None = None) -> BasketSet:
    """Baskets from parallel sequences of (basket id, item name); ids and items keep first-seen order."""
    basket_codes, basket_uniques = pd.factorize(pd.Series(basket_ids), sort=False)
    item_codes, item_uniques = pd.factorize(pd.Series(items), sort=True)
    return _from_codes(np.asarray(basket_codes), np.asarray(item_codes), np.asarray(basket_uniques, dtype=object),
                       np.asarray(item_uniques, dtype=object), dict(stats or {}))


def baskets_from_lists(baskets: Iterable[Iterable[str]]) -> BasketSet:
    """Baskets from lists of item names (empty lists are skipped and counted)."""
    basket_pos: list[int] = []
    names: list[str] = []
    kept = 0
    empty = 0
    for basket in baskets:
        basket = list(basket)
        if not basket:
            empty += 1
            continue
        basket_pos.extend([kept] * len(basket))
        names.extend(basket)
        kept += 1
    return baskets_from_pairs(basket_pos, names, {"empty_baskets": empty})


SALES_LINE_COLUMNS: tuple[str, ...] = (
    "order_id", "product_id", "quantity", "is_return", "is_cancelled", "is_merchandise")


def baskets_from_sales_lines(
    lines: pd.DataFrame,
    non_merchandise_codes: Iterable[str],
    item_level: str = "product",
) -> BasketSet:
    """Baskets from sales lines (``core.fct_sales_line`` columns; ``category`` for the category level).

    Returns the basket set with ``stats``: lines read, each exclusion reason, baskets and items.
    """
    keep, item, stats = usable_lines(lines, non_merchandise_codes, item_level)
    order_ids = lines["order_id"].to_numpy()[keep]
    return baskets_from_pairs(order_ids, item.to_numpy()[keep].astype(object), stats)


def usable_lines(lines: pd.DataFrame, non_merchandise_codes: Iterable[str],
                 item_level: str = "product") -> tuple[np.ndarray, pd.Series, dict[str, int]]:
    """Which sales lines are purchases of an item (mask), the trimmed item per line, and the counts.

    The exclusions of ``baskets_from_sales_lines`` (and of the recommender's purchase histories).
    """
    if item_level not in ITEM_LEVELS:
        raise BasketInputError(f"item level must be one of {', '.join(ITEM_LEVELS)}, not {item_level!r}")
    item_col = "product_id" if item_level == "product" else "category"
    missing = [c for c in (*SALES_LINE_COLUMNS, item_col) if c not in lines.columns]
    if missing:
        raise BasketInputError(f"sales lines lack column(s) {', '.join(dict.fromkeys(missing))}")
    codes = {str(c).strip().upper() for c in non_merchandise_codes}
    product = lines["product_id"].astype("string").str.strip()
    quantity = pd.to_numeric(lines["quantity"], errors="coerce")
    is_return = lines["is_return"].fillna(False).astype(bool)
    is_cancelled = lines["is_cancelled"].fillna(False).astype(bool)
    non_merch = (~lines["is_merchandise"].fillna(True).astype(bool)) | product.str.upper().isin(codes).fillna(False)
    item = lines[item_col].astype("string").str.strip()
    no_item = item.isna() | (item == "")
    # Reasons in order of precedence: each excluded line is counted under its first reason.
    reasons = [
        ("cancelled_lines", is_cancelled.to_numpy()),
        ("return_lines", is_return.to_numpy()),
        ("non_positive_quantity_lines", (quantity.isna() | (quantity <= 0)).to_numpy()),
        ("non_merchandise_lines", non_merch.to_numpy()),
        ("no_item_lines", no_item.to_numpy()),
    ]
    stats: dict[str, int] = {"lines_read": int(len(lines))}
    excluded = np.zeros(len(lines), dtype=bool)
    for name, mask in reasons:
        mask = np.asarray(mask, dtype=bool)
        stats[name] = int((mask & ~excluded).sum())
        excluded |= mask
    keep = ~excluded
    stats["lines_used"] = int(keep.sum())
    return keep, item, stats


def _count(n: int) -> str:
    return f"{n:,}"


def parse_basket_text(text: str, *, max_items: int | None = None, max_line_chars: int | None = None) -> BasketSet:
    """Baskets in the "basket" format: one basket per line, items separated by commas.

    Item names are trimmed; empty items and blank lines are skipped and counted (``empty_items``,
    ``blank_lines``); an item repeated in a basket counts once (``duplicate_items``). A field may be
    quoted CSV-style to hold a comma (a quote inside a quoted item is doubled: ``""``). Quotes are
    parsed strictly, one line at a time: a quote that does not close on its line, or text after a
    closing quote, is an error naming the lines (never several lines merged into one basket). A line
    longer than ``max_line_chars`` or holding more than ``max_items`` items is an error, checked before
    the line is split. Basket ids are the 1-based line numbers.
    """
    basket_ids: list[int] = []
    names: list[str] = []
    stats = {"lines_read": 0, "blank_lines": 0, "empty_items": 0}
    bad: list[str] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        stats["lines_read"] += 1
        if max_line_chars is not None and len(line) > max_line_chars:
            raise BasketInputError(f"line {line_no} is {_count(len(line))} characters long, more than "
                                   f"files.max_line_bytes ({_count(max_line_chars)})")
        if max_items is not None and line.count(",") + 1 > max_items:
            raise BasketInputError(f"line {line_no} holds about {_count(line.count(',') + 1)} items, more than "
                                   f"files.max_basket_items ({_count(max_items)}): is it one basket?")
        if not line.strip():
            stats["blank_lines"] += 1
            continue
        try:
            fields = next(csv.reader([line], strict=True, skipinitialspace=True), [])
        except csv.Error as exc:
            bad.append(f"line {line_no} ({exc})")
            continue
        trimmed = [f.strip() for f in fields]
        kept = [f for f in trimmed if f]
        if not kept:
            stats["blank_lines"] += 1
            continue
        stats["empty_items"] += len(trimmed) - len(kept)
        basket_ids.extend([line_no] * len(kept))
        names.extend(kept)
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise BasketInputError(f"unbalanced quotes: {'; '.join(bad[:5])}{more}; a quoted item must close on its "
                               'own line (write a quote inside an item as "")')
    return baskets_from_pairs(basket_ids, names, stats)


def read_basket_file(path: Path | str, *, max_items: int | None = None, max_line_bytes: int | None = None,
                     max_file_bytes: int | None = None) -> BasketSet:
    """Baskets from a basket file (see ``parse_basket_text``); clear errors for unusable files. The limits
    (``settings.files``) are checked before the file or a line is split into items."""
    path = Path(path)
    if not path.is_file():
        raise BasketInputError(f"basket file {path} does not exist")
    size = path.stat().st_size
    if max_file_bytes is not None and size > max_file_bytes:
        raise BasketInputError(f"basket file {path} is {_count(size)} bytes, more than files.max_file_bytes "
                               f"({_count(max_file_bytes)})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BasketInputError(f"basket file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        baskets = parse_basket_text(text, max_items=max_items, max_line_chars=max_line_bytes)
    except BasketInputError as exc:
        raise BasketInputError(f"basket file {path}: {exc}") from None
    if baskets.n_baskets == 0:
        raise BasketInputError(f"basket file {path} holds no baskets (only blank lines or empty items)")
    return baskets
