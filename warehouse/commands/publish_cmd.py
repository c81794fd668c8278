"""``crmwh publish``, ``crmwh query`` and ``crmwh report``: the published marts and their readers."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from warehouse.commands.common import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    pub = subparsers.add_parser(
        "publish",
        help="publish the current marts as a new read-only version (DuckDB file + Parquet)",
        description="Copy every marts.* table of the working warehouse into a new read-only DuckDB file "
                    "and Parquet folder with a data dictionary and a manifest, then swap it in atomically.",
    )
    pub.add_argument("--run-id", default=None, help="run id recorded in the manifest (default cli__<UTC time>)")
    pub.add_argument(
        "--validation-status", default=None,
        choices=("passed", "warning", "not_validated", "failed"),
        help="validation status to record (default: derived from audit.validation_results; "
             "'failed' is refused)",
    )
    pub.add_argument("--verify-only", action="store_true",
                     help="publish nothing: check the current version (DuckDB and Parquet) against its manifest")
    pub.set_defaults(handler=_publish)

    query = subparsers.add_parser(
        "query",
        help="run one read-only SQL statement against the published marts",
        description="Run one SELECT (or WITH/FROM/VALUES/DESCRIBE/SHOW/SUMMARIZE/EXPLAIN) against the "
                    "published marts, opened read-only. Tables: `show tables`; e.g. "
                    "`select * from marts.data_dictionary`.",
    )
    query.add_argument("sql", help="the SQL statement")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format")
    query.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                       help="stop the statement after this many seconds (default: publish.query_timeout_s, "
                            "120; 0 = no limit)")
    query.set_defaults(handler=_query)

    report = subparsers.add_parser(
        "report",
        help="write the marketers' HTML report (one self-contained file, readable offline)",
    )
    report.add_argument("--out", type=Path, default=None,
                        help="output file (default <data dir>/reports/report.html)")
    report.set_defaults(handler=_report)


def _publish(args: argparse.Namespace) -> int:
    from warehouse.foundation.db import warehouse_writer
    from warehouse.quality.validation_status import validation_status_from_audit
    from warehouse.serve.publish import publish

    settings = get_settings()
    if args.verify_only:
        from warehouse.serve.publish import verify_published

        manifest = verify_published(settings)
        print(f"published version {manifest.version} (run {manifest.run_id}) is complete: "
              f"{len(manifest.row_counts)} tables match the manifest in DuckDB and Parquet")
        return 0
    run_id = args.run_id or f"cli__{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}"
    with warehouse_writer(settings) as con:
        status = args.validation_status or validation_status_from_audit(con)
        manifest = publish(settings, run_id, None, status, con=con)
    print(f"published version {manifest.version} (run {manifest.run_id}, validation {manifest.validation_status})")
    for table, rows in manifest.row_counts.items():
        print(f"  {table}: {rows} rows")
    for warning in manifest.warnings:
        print(f"  warning: {warning}")
    print(f"DuckDB:  {settings.published_path}")
    print(f"Parquet: {settings.parquet_dir}")
    return 0


def _query(args: argparse.Namespace) -> int:
    from warehouse.serve.query import run_query, write_result

    settings = get_settings()
    columns, batches, con = run_query(settings, args.sql, args.timeout)
    try:
        write_result(columns, batches, args.format, sys.stdout,
                     table_max_rows=settings.publish.query_table_max_rows)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (`| head`): not an error, and no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    finally:
        con.close()
    return 0


def _report(args: argparse.Namespace) -> int:
    from warehouse.serve.report import write_report

    settings = get_settings()
    path = write_report(settings, args.out)
    print(path)
    return 0
