"""``crmwh care``: the weekly care scan in process (what the ``crm_care`` DAG does).

``crmwh care [--week DATE] [--as-of DATE] [--no-publish]`` rebuilds the services marts
(sales_funnel, contract_renewals with renewal_model_card, service_sla), writes the week's care actions
(marts.care_actions; one list per week in analytics.care_actions), then publishes and writes the report.
The week is the one containing DATE (default: the week of the latest data); re-running a week gives
the same list.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from warehouse.commands.common import get_settings
from warehouse.foundation.errors import CrmwhError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "care", help="the weekly care scan: services marts, this week's care actions, publish",
    )
    parser.add_argument("--week", default=None, help="any day of the week to scan, YYYY-MM-DD "
                                                     "(default: the week of the latest data)")
    parser.add_argument("--as-of", default=None, help="services marts date YYYY-MM-DD (default: day after the latest sale)")
    parser.add_argument("--no-publish", action="store_true", help="build the tables but do not publish or report")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from datetime import datetime

    from warehouse.ops.services_pipeline import run_care_week

    settings = get_settings()
    if settings.warehouse_path is None or not Path(settings.warehouse_path).exists():
        raise CrmwhError(f"no warehouse at {settings.warehouse_path}: load data first (`crmwh run`)")
    run_id = f"care.{datetime.now():%Y%m%dT%H%M%S}"
    summary = run_care_week(settings, run_id, week=args.week, as_of=args.as_of, publish=not args.no_publish)
    care = summary["care"]
    print(f"care scan for the week of {care['week_start']} (services marts as of {summary['as_of']}): "
          f"{care['actions']} action(s)")
    for rule, n in care["by_rule"].items():
        print(f"  {rule:<28} {n:>6}")
    for note in care["notes"]:
        print(f"  note: {note}")
    for table, n in summary["marts"].items():
        print(f"{table}: {n} rows")
    if "publish" in summary:
        print(f"published version {summary['publish']['version']} ({summary['publish']['validation_status']}); "
              f"report: {summary['report']}")
    return 0
