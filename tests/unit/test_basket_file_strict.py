"""Basket files are parsed one line at a time: quoted items still hold commas and doubled quotes, a
quote that does not close on its line is an error naming every such line, limits come before splitting."""

from __future__ import annotations

import pytest

from transforms.baskets import BasketInputError, parse_basket_text


def test_quoted_items_blank_lines_and_line_numbers() -> None:
    baskets = parse_basket_text('bread, "cheese, aged"\n\n"12"" pizza",beer\n , \n')
    assert baskets.to_lists() == [["bread", "cheese, aged"], ["12\" pizza", "beer"]]
    assert list(baskets.basket_ids) == [1, 3]
    assert baskets.stats["blank_lines"] == 2 and baskets.stats["lines_read"] == 4


def test_unbalanced_quotes_never_merge_lines() -> None:
    with pytest.raises(BasketInputError, match=r'unbalanced quotes: line 2 \(.*\); line 4 \(.*\); a quoted item'):
        parse_basket_text('a,b\nc,"d\ne,f\n"g"h,i\n')


def test_limits_before_splitting() -> None:
    with pytest.raises(BasketInputError, match=r"line 1 holds about 4 items, more than files.max_basket_items \(3\)"):
        parse_basket_text("a,b,c,d\n", max_items=3)
    with pytest.raises(BasketInputError, match=r"line 2 is 11 characters long, more than files.max_line_bytes \(10\)"):
        parse_basket_text("a,b\nabcdefghijk\n", max_line_chars=10)
    assert parse_basket_text("a,b,c\n", max_items=3, max_line_chars=5).n_baskets == 1
