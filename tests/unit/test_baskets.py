"""Baskets from basket files and from sales lines (exclusions), and the Online Retail sample."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from transforms.association import MiningParams, frequent_itemsets, mine
from transforms.baskets import (
    BasketInputError,
    baskets_from_sales_lines,
    parse_basket_text,
    read_basket_file,
)
from warehouse.foundation.settings import MiningSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NON_MERCH = MiningSettings().non_merchandise_codes


def test_basket_file_items_are_trimmed_and_counted() -> None:
    text = " milk ,bread\n\n  \nbread,  milk,, butter \n\"jam, strawberry\",bread,bread\n  , ,\n"
    b = parse_basket_text(text)
    lists = [sorted(x) for x in b.to_lists()]
    assert lists == [["bread", "milk"], ["bread", "butter", "milk"], ["bread", "jam, strawberry"]]
    assert b.stats["blank_lines"] == 3  # the empty line, the spaces-only line and " , ,"
    assert b.stats["empty_items"] == 1  # the ",," inside line 4
    assert b.stats["duplicate_items"] == 1  # bread twice in one basket
    assert list(b.basket_ids) == [1, 4, 5]  # line numbers
    assert set(b.items) == {"milk", "bread", "butter", "jam, strawberry"}


def test_basket_file_errors(tmp_path: Path) -> None:
    with pytest.raises(BasketInputError, match="does not exist"):
        read_basket_file(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n , \n\n", encoding="utf-8")
    with pytest.raises(BasketInputError, match="no baskets"):
        read_basket_file(empty)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00abc")
    with pytest.raises(BasketInputError, match="not UTF-8"):
        read_basket_file(binary)


def _lines(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["order_id", "product_id", "quantity", "is_return", "is_cancelled",
                                       "is_merchandise", "category"])


def test_sales_lines_exclusions() -> None:
    lines = _lines([
        ("o1", "SKU-A ", 1, False, False, True, "cups"),
        ("o1", "SKU-A", 2, False, False, True, "cups"),      # same product again: counted once
        ("o1", "SKU-B", 1, False, False, True, "plates"),
        ("o1", "POST", 1, False, False, True, "fees"),   # non-merchandise code
        ("o1", "SKU-X", 1, False, False, False, "misc"),     # is_merchandise false
        ("o2", "SKU-A", -1, True, False, True, "cups"),      # a return
        ("o3", "SKU-A", 1, False, True, True, "cups"),       # cancelled order
        ("o3", "SKU-B", 1, False, True, True, "plates"),
        ("o4", "SKU-C", 0, False, False, True, "cups"),      # zero quantity
        ("o5", "SKU-C", 1, False, False, True, "cups"),
        ("o5", None, 1, False, False, True, None),       # no item
    ])
    b = baskets_from_sales_lines(lines, NON_MERCH)
    assert sorted(sorted(x) for x in b.to_lists()) == [["SKU-A", "SKU-B"], ["SKU-C"]]
    assert list(b.basket_ids) == ["o1", "o5"]
    s = b.stats
    assert (s["lines_read"], s["cancelled_lines"], s["return_lines"], s["non_positive_quantity_lines"],
            s["non_merchandise_lines"], s["no_item_lines"], s["lines_used"], s["duplicate_items"]) == \
        (11, 2, 1, 1, 2, 1, 4, 1)
    assert s["lines_read"] == s["lines_used"] + sum(
        s[k] for k in ("cancelled_lines", "return_lines", "non_positive_quantity_lines", "non_merchandise_lines",
                       "no_item_lines"))
    categories = baskets_from_sales_lines(lines, NON_MERCH, item_level="category")
    assert sorted(sorted(x) for x in categories.to_lists()) == [["cups"], ["cups", "plates"]]
    with pytest.raises(BasketInputError, match="item level"):
        baskets_from_sales_lines(lines, NON_MERCH, item_level="brand")
    with pytest.raises(BasketInputError, match="lack column"):
        baskets_from_sales_lines(lines.drop(columns=["is_return"]), NON_MERCH)


def online_retail_lines() -> pd.DataFrame:
    raw = pd.read_csv(FIXTURES / "online_retail_sample.csv", dtype=str, keep_default_na=False)
    quantity = pd.to_numeric(raw["Quantity"])
    return pd.DataFrame({
        "order_id": raw["InvoiceNo"].str.strip(),
        "product_id": raw["StockCode"],
        "quantity": quantity,
        "is_return": quantity < 0,
        "is_cancelled": raw["InvoiceNo"].str.strip().str.upper().str.startswith("C"),
        "is_merchandise": True,
    })


def test_online_retail_sample_baskets_and_rules() -> None:
    lines = online_retail_lines()
    b = baskets_from_sales_lines(lines, NON_MERCH)
    assert b.stats["cancelled_lines"] > 0 and b.stats["non_merchandise_lines"] > 0
    assert not set(b.items) & {"POST", "M", "DOT", "BANK CHARGES"}
    assert all(not str(i).startswith(" ") and not str(i).endswith(" ") for i in b.items)
    # counts against a plain-Python recount of the same baskets
    kept = lines[~lines["is_cancelled"] & (lines["quantity"] > 0)
                 & ~lines["product_id"].str.strip().str.upper().isin(NON_MERCH)]
    sets = kept.groupby("order_id")["product_id"].agg(lambda s: frozenset(s.str.strip()))
    assert b.n_baskets == len(sets)
    a = frequent_itemsets(b, 4, 3, counter="mlxtend")
    s = frequent_itemsets(b, 4, 3, counter="sparse")
    assert dict(zip(a["itemset"], a["count"], strict=True)) == dict(zip(s["itemset"], s["count"], strict=True))
    for itemset, count in itertools.islice(zip(s["itemset"], s["count"], strict=True), 0, None, 7):
        assert count == sum(1 for basket in sets if set(itemset) <= basket)
    rules = mine(b, MiningParams(min_support=2, min_lift=0.0, min_confidence=0.5, max_len=3)).rules
    assert len(rules) > 0 and (rules["confidence"] >= 0.5).all()
    assert (rules["both_count"] * 2 >= rules["antecedent_count"]).all()
