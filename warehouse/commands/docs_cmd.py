"""``crmwh docs``: (re)build the offline Data Docs from the warehouse's validation results."""

from __future__ import annotations

import argparse

from warehouse.commands.common import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "docs", help="rebuild the offline Data Docs (validation results of staging, core and marts)",
        description="Write the Data Docs under <data dir>/data_docs/ from audit.validation_results: the latest "
                    "check of every guarded table (staging batches, the core after each load, the marts before "
                    "each publish), every rule with its severity, count and reason, and each data contract. "
                    "Plain HTML with inline styles: it reads the same without a network. The pipeline keeps the "
                    "pages up to date as it validates; this command rebuilds them all.",
        epilog="examples:\n  crmwh docs\n  xdg-open \"$(crmwh docs)\"")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from warehouse.foundation.db import warehouse_reader
    from warehouse.quality.data_docs_site import render_site

    settings = get_settings()
    with warehouse_reader(settings) as con:
        print(render_site(con, settings))
    return 0
