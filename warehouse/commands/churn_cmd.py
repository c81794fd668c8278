"""``crmwh churn``: churn features, risk scores, segments and the retention marts of the warehouse.

``crmwh churn [--as-of YYYY-MM-DD]`` computes the point-in-time features for the scoring date and
the model's snapshot dates, backtests the risk model against its baselines at three test dates,
and writes the analytics.* churn tables and marts.customer_retention, customer_winback, model_card,
cohort_retention and churn_by_segment. The default as-of date is the day after the latest sale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from warehouse.commands.common import get_settings, parse_as_of
from warehouse.foundation.errors import CrmwhError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "churn", help="churn features, risk scores, segments and retention marts of the warehouse",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    parser.add_argument("--as-of", default=None, help="scoring date YYYY-MM-DD (default: day after the latest sale)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from warehouse.analytics.churn import run_churn
    from warehouse.foundation.db import warehouse_writer

    settings = get_settings()
    as_of = parse_as_of(args.as_of, settings) if args.as_of else None
    if settings.warehouse_path is None or not Path(settings.warehouse_path).exists():
        raise CrmwhError(f"no warehouse at {settings.warehouse_path}: load data first")
    with warehouse_writer(settings) as con:
        counts = run_churn(con, settings, as_of)
        card = con.execute("select as_of, status, roc_auc, pr_auc, model, horizon_days from marts.model_card "
                           "where selected order by scope = 'pooled' desc limit 1").fetchall()
    for table, n in counts.items():
        print(f"{table}: {n} rows")
    if card:
        as_of_date, status, auc, pr_auc, model, horizon = card[0]
        metrics = (f"{model} published, out-of-time ROC AUC {auc:.3f}, PR AUC {pr_auc:.3f} (pooled test dates, "
                   "baselines in marts.model_card)") if auc is not None else "no out-of-time metrics"
        print(f"churn as of {as_of_date} (horizon {horizon} days): model {status}; {metrics}")
    return 0
