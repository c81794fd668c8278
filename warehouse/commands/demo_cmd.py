"""``crmwh demo generate | advance | run``: the demo CRM source and the `make demo` flow."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from warehouse.commands.common import get_settings

if TYPE_CHECKING:
    from warehouse.foundation.settings import Settings


def ground_truth_for(settings: Settings, url: str, explicit: str | None = None) -> Path:
    """The ground-truth file of a source: the settings' path for the default source, else one per URL."""
    if explicit:
        return Path(explicit)
    if url == settings.source_url:
        return settings.ground_truth_path
    import sqlalchemy as sa

    u = sa.engine.make_url(url)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{u.get_backend_name()}_{u.host or ''}_{u.database or ''}").strip("_")
    return settings.source_dir / f"ground_truth.{name}.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="generate or advance the demo CRM source; run the demo")
    demo = parser.add_subparsers(dest="demo_command", required=True, metavar="ACTION")

    gen = demo.add_parser("generate", help="write the demo CRM source database and its ground truth")
    gen.add_argument("--scale", choices=("small", "medium", "large"), default=None,
                     help="size of the business (default: settings.demo.scale)")
    gen.add_argument("--seed", type=int, default=None, help="random seed (default: settings.demo.seed)")
    gen.add_argument("--profile", choices=("retail", "services"), default=None,
                     help="kind of business and catalog (default: settings.demo.profile)")
    gen.add_argument("--url", default=None, help="SQLAlchemy URL of the source (default: settings.source_url)")
    gen.add_argument("--end-date", default=None, help="last day of history, YYYY-MM-DD (default: settings)")
    gen.add_argument("--dirt-rate", type=float, default=None, help="share of rows with planted dirt")
    gen.add_argument("--force", action="store_true", help="replace an existing source")
    gen.add_argument("--ground-truth", default=None,
                     help="where the planted structure goes (default: settings' path for the default source, "
                          "else ground_truth.<url>.json beside it)")
    gen.set_defaults(handler=_generate)

    adv = demo.add_parser("advance", help="move the demo business forward by N days")
    adv.add_argument("--days", type=int, required=True, help="business days to add (1-366)")
    adv.add_argument("--url", default=None, help="SQLAlchemy URL of the source (default: settings.source_url)")
    adv.add_argument("--seed", type=int, default=None, help="random seed (default: the source's seed)")
    adv.add_argument("--ground-truth", default=None, help="the source's ground-truth file (see generate)")
    adv.set_defaults(handler=_advance)

    run = demo.add_parser("run", help="generate the source if needed, run the DAGs through Airflow, summarize")
    run.add_argument("--scale", choices=("small", "medium", "large"), default=None,
                     help="used only when the source has to be generated")
    run.add_argument("--seed", type=int, default=None, help="used only when the source has to be generated")
    run.add_argument("--profile", choices=("retail", "services"), default=None,
                     help="used only when the source has to be generated")
    run.add_argument("--date", default=None, help="logical date of the DAG runs (default: the business clock)")
    run.set_defaults(handler=_run)


def _generate(args: argparse.Namespace) -> int:
    from warehouse.demo.generator import generate, options_from_settings
    from warehouse.demo.reference_rates import declare_demo_rates

    settings = get_settings()
    url = args.url or settings.source_url
    opts = options_from_settings(settings, scale=args.scale, seed=args.seed, profile=args.profile,
                                 end_date=args.end_date, dirt_rate=args.dirt_rate)
    result = generate(url, ground_truth_for(settings, url, args.ground_truth), opts, force=args.force)
    print(f"generated the {opts.profile} demo source (scale {opts.scale}, seed {opts.seed}, history to "
          f"{opts.end_date}) in {result.seconds:.1f}s at {result.url}")
    for table, count in result.counts.items():
        print(f"  {table:<16} {count:>12,}")
    print(f"ground truth: {result.ground_truth_path}")
    rates = declare_demo_rates(settings, opts.profile)
    if rates is not None:
        print(f"exchange rates: {rates} (the {opts.profile} demo's currency into the reporting currency "
              f"{settings.currency.reporting_currency})")
    return 0


def _advance(args: argparse.Namespace) -> int:
    from warehouse.demo.advance import advance

    settings = get_settings()
    url = args.url or settings.source_url
    result = advance(url, ground_truth_for(settings, url, args.ground_truth), args.days, seed=args.seed)
    print(f"advanced the demo business from {result.old_clock} to {result.new_clock}")
    for table in sorted(set(result.inserted) | set(result.updated)):
        print(f"  {table:<16} +{result.inserted.get(table, 0):>8,} new  {result.updated.get(table, 0):>8,} updated")
    return 0


def _run(args: argparse.Namespace) -> int:
    from warehouse.demo.orchestrate import run_demo

    run_demo(get_settings(), scale=args.scale, seed=args.seed, profile=args.profile, date=args.date)
    return 0
