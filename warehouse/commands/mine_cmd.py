"""``crmwh mine``: association rules from a basket file, or the warehouse's mining run.

``crmwh mine --baskets FILE --out rules.csv`` mines a basket file (one basket per line, items
separated by commas) and writes one rule a line with its metrics. Without ``--baskets`` it mines the
warehouse as of ``--as-of`` (default: the day of the latest sale) with the configured parameters and
writes the mining tables and marts; ``--out`` then exports the overall rules.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from warehouse.commands.common import finite_float, get_settings, parse_as_of
from warehouse.foundation.errors import CrmwhError

if TYPE_CHECKING:
    from warehouse.foundation.settings import Settings

if TYPE_CHECKING:  # pandas, scipy and mlxtend are imported by the handler only: `crmwh --help` stays fast
    import pandas as pd

CSV_COLUMNS: tuple[str, ...] = (
    "rule_id", "antecedent", "consequent", "antecedent_count", "consequent_count", "both_count", "n_baskets",
    "support", "confidence", "lift", "leverage", "conviction", "zhangs_metric", "jaccard",
    "fisher_p", "fisher_q", "is_significant", "is_redundant",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mine", help="association rules from a basket file (--baskets) or from the warehouse",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    parser.add_argument("--baskets", type=Path, help="basket file: one basket per line, comma-separated items")
    parser.add_argument("--out", type=Path, help="rules CSV to write (required with --baskets)")
    parser.add_argument("--min-support", type=_support_arg, default=None,
                        help="fraction of baskets in (0, 1] (e.g. 0.01) or a whole count (e.g. 25)")
    parser.add_argument("--min-confidence", type=finite_float, default=None, help="inclusive, in [0, 1]")
    parser.add_argument("--min-lift", type=finite_float, default=None, help="inclusive, >= 0")
    parser.add_argument("--max-len", type=int, default=None, help="largest itemset size")
    parser.add_argument("--max-consequent", type=int, default=None, help="largest consequent size (default 1)")
    parser.add_argument("--engine", choices=("mlxtend", "spark"), default=None)
    parser.add_argument("--spark-master", default=None, help="Spark master URL (default local[2])")
    parser.add_argument("--counter", default=None,
                        help="itemset counter of the mlxtend engine: auto, mlxtend or sparse (same results; "
                             "sparse is fastest)")
    parser.add_argument("--as-of", default=None, help="warehouse mining date YYYY-MM-DD (default: latest sale)")
    parser.set_defaults(handler=_run)


def _support_arg(text: str) -> float | int:
    from transforms.association import MiningParameterError, parse_support

    try:
        return parse_support(text)
    except MiningParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _settings_with_overrides(settings: Settings, args: argparse.Namespace) -> Settings:
    overrides = {
        "min_support": args.min_support, "min_confidence": args.min_confidence, "min_lift": args.min_lift,
        "max_len": args.max_len, "max_consequent": args.max_consequent, "engine": args.engine,
        "spark_master": args.spark_master, "itemset_counter": args.counter,
    }
    changed = {k: v for k, v in overrides.items() if v is not None}
    from warehouse.foundation.settings import replace_settings

    return replace_settings(settings, mining=changed)


def rules_csv_frame(rules: pd.DataFrame) -> pd.DataFrame:
    """Rules as written to CSV: item lists joined with ' + ', conviction empty when infinite."""
    out = rules[list(CSV_COLUMNS)].copy()
    out["antecedent"] = [" + ".join(a) for a in out["antecedent"]]
    out["consequent"] = [" + ".join(c) for c in out["consequent"]]
    return out


def _write_csv(frame: pd.DataFrame, out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False, float_format="%.10g")
    except OSError as exc:
        raise CrmwhError(f"cannot write {out}: {exc.strerror}") from None


def _run(args: argparse.Namespace) -> int:
    settings = _settings_with_overrides(get_settings(), args)
    if args.as_of:  # checked before the heavy imports: a typo fails fast
        parse_as_of(args.as_of, settings)
    from transforms.association import MiningParameterError
    from transforms.baskets import read_basket_file
    from warehouse.analytics.rule_miner import mine_basket_set

    settings.mining.params()  # a bad threshold fails before any file is read
    if args.baskets is not None:
        if args.out is None:
            raise MiningParameterError("--out rules.csv is required with --baskets")
        limits = settings.files
        baskets = read_basket_file(args.baskets, max_items=limits.max_basket_items, max_line_bytes=limits.max_line_bytes,
                                   max_file_bytes=limits.max_file_bytes)
        result = mine_basket_set(settings, baskets)
        _write_csv(rules_csv_frame(result.rules), args.out)
        skipped = {k: v for k, v in baskets.stats.items() if k in ("blank_lines", "empty_items", "duplicate_items") and v}
        note = f" (skipped: {', '.join(f'{k} {v}' for k, v in skipped.items())})" if skipped else ""
        print(f"{baskets.n_baskets} baskets, {baskets.n_items} items{note}; min count {result.min_count}; "
              f"{len(result.itemsets)} frequent itemsets; {len(result.rules)} rules -> {args.out}")
        return 0
    return _run_warehouse(settings, args)


def _run_warehouse(settings: Settings, args: argparse.Namespace) -> int:
    from warehouse.analytics.mining import run_mining
    from warehouse.foundation.db import warehouse_writer

    if settings.warehouse_path is None or not Path(settings.warehouse_path).exists():
        raise CrmwhError(f"no warehouse at {settings.warehouse_path}: load data first, or mine a file with --baskets")
    with warehouse_writer(settings) as con:
        if args.as_of:
            as_of = parse_as_of(args.as_of, settings)
        else:
            latest = con.execute("select max(order_ts) from core.fct_sales_line").fetchall()[0][0]
            if latest is None:
                raise CrmwhError("the warehouse holds no sales lines to mine")
            as_of = latest.date()
        counts = run_mining(con, settings, as_of)
        if args.out is not None:
            rules = con.execute(
                "select * from analytics.association_rules where segment_dimension = 'all' "
                "and window_name = 'all' order by lift desc, confidence desc, rule_id").df()
            _write_csv(rules_csv_frame(rules), args.out)
    tables = ", ".join(f"{k} {v}" for k, v in counts.items() if "." in k)
    print(f"mined the warehouse as of {as_of}: {counts.get('baskets', 0)} baskets; {tables}", file=sys.stdout)
    if counts.get("support_lowered"):
        print(f"support lowered: the configured support ({counts['min_count_configured']} baskets) gave fewer than "
              f"{settings.mining.min_offer_rules} offerable rules; mined at {counts['min_count_used']} baskets "
              f"({counts['offerable_rules']} offerable rules)", file=sys.stdout)
    if "active_customers" in counts:
        print(f"offers: {counts.get('offers', 0)} for {counts.get('customers_with_offers', 0)} of "
              f"{counts['active_customers']} active customers", file=sys.stdout)
    return 0
