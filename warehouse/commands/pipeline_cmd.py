"""`crmwh pipeline`: the whole job in this process, with a progress display.

Extract (CRM database + landing folder), stage, validate, load the core, mine, score churn, publish and
write the report: the steps of `crm_ingest` then `crm_analytics`, calling the same task functions
the DAGs call, in the order declared once in `warehouse.ops.job.STEPS`. Each step takes the warehouse's
write lock as the DAG's tasks do. The first failing step stops the job with one line saying which
step failed and why; what the earlier steps committed stays (a rerun picks up from the data).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from typing import Any

from warehouse.commands.common import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    from warehouse.ops.job import STEPS

    parser = subparsers.add_parser(
        "pipeline", help="the whole job in process: load, validate, mine, churn, services, care, publish, report",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
        epilog="steps: " + ", ".join(s.name for s in STEPS) + "\n\nexamples:\n  crmwh pipeline\n"
               "  crmwh pipeline --as-of 2025-12-31          # extract up to that day, analytics as of it\n"
               "  crmwh pipeline --skip extract_crm --skip report\n  crmwh pipeline --json > summary.json")
    parser.add_argument("--as-of", default=None,
                        help="analytics date YYYY-MM-DD (default: the day after the latest sale); also the "
                             "extraction cut-off (end of that day) unless --end is given")
    parser.add_argument("--start", default=None, help="data interval start YYYY-MM-DD: re-read from here (backfill)")
    parser.add_argument("--end", default=None, help="extraction cut-off YYYY-MM-DD (default: now, or the --as-of day)")
    parser.add_argument("--skip", action="append", default=[], metavar="STEP",
                        help="leave out a step (repeatable), e.g. extract_crm, report")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document (the steps, their status, seconds and results) instead of text")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from warehouse.commands.common import parse_as_of
    from warehouse.ops.job import JobContext, selected_steps
    from warehouse.ops.pipeline import Interval

    settings = get_settings()
    steps = selected_steps(tuple(args.skip))
    as_of = parse_as_of(args.as_of, settings) if args.as_of else None
    interval = Interval.parse(args.start, args.end or (as_of.isoformat() if as_of else None))
    settings.ensure_dirs()
    ctx = JobContext(settings, interval, as_of.isoformat() if as_of else None)
    results = _run_steps(steps, ctx, quiet=args.json)
    if args.json:
        from warehouse.foundation.jsonout import write_document

        write_document({"run_id": ctx.run_id, "data_interval": list(ctx.data_interval),
                        "steps": [r.__dict__ for r in results]}, sys.stdout)
    return 0


class _LatestMessage(logging.Handler):
    """Shows the latest log message of the running step under its progress line."""

    def __init__(self, update: Any) -> None:
        super().__init__(logging.INFO)
        self.update = update

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # the display must never break the job
            self.update(record.getMessage().splitlines()[0][:100])


def _run_steps(steps: list, ctx: Any, *, quiet: bool) -> list:
    from rich.console import Console
    from rich.markup import escape

    from warehouse.ops.job import StepResult, run_step

    console = Console(stderr=quiet, highlight=False, soft_wrap=True)
    results: list[StepResult] = []
    total = len(steps)
    started = time.monotonic()
    live = console.is_terminal and not quiet
    if not quiet:
        console.print(escape(f"crmwh pipeline {ctx.run_id}: {total} steps; data directory {ctx.settings.data_dir}"))
    for number, step in enumerate(steps, start=1):
        label = escape(f"[{number}/{total}] {step.title}")
        try:
            if live:
                with console.status(label, spinner="dots") as status:
                    handler = _LatestMessage(lambda m, s=status, lab=label: s.update(f"{lab}: {m}"))
                    logger = logging.getLogger("warehouse")
                    level = logger.level
                    logger.addHandler(handler)
                    logger.setLevel(logging.INFO)  # the step's own info messages feed the progress line
                    try:
                        result = run_step(step, ctx)
                    finally:
                        logger.removeHandler(handler)
                        logger.setLevel(level)
            else:
                result = run_step(step, ctx)
        except BaseException as exc:
            failed = StepResult(step.name, "failed", 0.0, None, str(exc).splitlines()[0] if str(exc) else "")
            results.append(failed)
            if not quiet:
                console.print(f"{label}: [bold red]failed[/]", markup=True)
                done = ", ".join(r.step for r in results if r.status == "succeeded") or "none"
                console.print(escape(f"stopped at step {step.name}; steps done: {done}"))
            from warehouse.foundation.errors import CrmwhError

            if isinstance(exc, CrmwhError):
                raise CrmwhError(f"pipeline step {step.name} failed: {exc}") from exc
            raise
        results.append(result)
        if not quiet:
            mark = "[green]done[/]" if result.status == "succeeded" else "[yellow]skipped[/]"
            console.print(f"{label}: {mark} in {result.seconds:.1f}s" + (f"; {escape(result.summary)}" if result.summary else ""),
                          markup=True)
    if not quiet:
        published = next((r.result for r in results if r.step == "publish" and r.status == "succeeded"), None)
        tail = (f"; published version {published['version']} at {ctx.settings.published_path}"
                if isinstance(published, dict) else "")
        console.print(escape(f"pipeline {ctx.run_id} finished in {time.monotonic() - started:.1f}s{tail}"))
    return results

