"""``crmwh evaluate``: backtest the cross-sell recommender on the warehouse and refresh its card.

``crmwh evaluate --as-of DATE --holdout-days N [--k 5]`` fits the hybrid recommender (rules mined
again, co-purchase, sequences, popularity, the blend) with the data up to the end of DATE, then scores
its offers against what the active customers bought in the next N days that they had not bought or
returned in the look-back, beside the popularity and co-purchase baselines on the same customers:
hit rate@k with a bootstrap interval, precision@k, recall@k, customer and catalogue coverage, and the
share of offers taken by the top three products. The result replaces marts.recommender_card
(published with the next `crmwh publish` or analytics run). Without --as-of the cut is the
holdout's length before the latest sale.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from warehouse.commands.common import get_settings
from warehouse.foundation.errors import CrmwhError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="backtest the cross-sell offers against popularity and co-purchase (recommender card)",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    parser.add_argument("--as-of", default=None,
                        help="training cut YYYY-MM-DD (default: holdout-days before the latest sale)")
    parser.add_argument("--holdout-days", type=int, default=None, help="days scored after the cut (default 60)")
    parser.add_argument("--k", type=int, default=None, help="offers per customer scored (default 5)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from warehouse.analytics.recommender import default_backtest_as_of, evaluate_recommender, write_card
    from warehouse.foundation.db import warehouse_writer

    settings = get_settings()
    holdout = args.holdout_days if args.holdout_days is not None else settings.recommender.holdout_days
    if holdout < 1:
        raise CrmwhError(f"--holdout-days must be at least 1, not {holdout}")
    if args.k is not None and args.k < 1:
        raise CrmwhError(f"--k must be at least 1, not {args.k}")
    if settings.warehouse_path is None or not Path(settings.warehouse_path).exists():
        raise CrmwhError(f"no warehouse at {settings.warehouse_path}: load data first")
    with warehouse_writer(settings) as con:
        if args.as_of:
            try:
                as_of = dt.date.fromisoformat(args.as_of)
            except ValueError:
                raise CrmwhError(f"--as-of must be a date YYYY-MM-DD, not {args.as_of!r}") from None
        else:
            as_of = default_backtest_as_of(con, holdout)
        card = evaluate_recommender(con, settings, as_of, holdout, args.k)
        write_card(con, card)
    print(format_card(card))
    return 0


def format_card(card) -> str:  # noqa: ANN001 - a pandas frame (pandas is imported by the handler only)
    """The card as a few readable lines."""
    if card.empty:
        return "no backtest rows"
    first = card.iloc[0]
    lines = [f"backtest: trained to {first['train_end']:%Y-%m-%d %H:%M}, holdout {first['holdout_start']:%Y-%m-%d} "
             f"to {first['holdout_end']:%Y-%m-%d} (exclusive); {first['customers_active']} active customers, "
             f"{first['customers_evaluated']} bought something new in the holdout; k = {first['k']}"]
    lines.append(f"{'recommender':<12} {'hit rate (95% CI)':<24} {'precision':>9} {'recall':>7} {'customers':>9} "
                 f"{'catalogue':>9} {'top-3 share':>11} {'vs popularity (95% CI)':>24}")
    for row in card.itertuples(index=False):
        lines.append(
            f"{row.recommender:<12} {row.hit_rate:.3f} ({row.hit_rate_ci_low:.3f}-{row.hit_rate_ci_high:.3f})"
            f"{'':<3} {row.precision_at_k:>9.3f} {row.recall_at_k:>7.3f} {row.customer_coverage:>9.1%} "
            f"{row.catalogue_coverage:>9.1%} {row.top3_offer_share:>11.1%} "
            f"{row.hit_rate_vs_popularity:>8.2f}x ({row.ratio_ci_low:.2f}-{row.ratio_ci_high:.2f})")
    return "\n".join(lines)
