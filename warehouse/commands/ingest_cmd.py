"""``crmwh ingest PATH``, ``crmwh run`` and ``crmwh status``: loading the warehouse from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from warehouse.commands.common import get_settings, positive_int

if TYPE_CHECKING:
    from warehouse.foundation.settings import Settings

STATUS_COLUMNS = ("batch_id", "run_id", "source", "entity", "status", "step", "rows_read", "rows_loaded",
                  "rows_quarantined", "warnings", "started_at", "finished_at", "file_name", "error", "notes",
                  "writer")


def register(subparsers: argparse._SubParsersAction) -> None:
    ingest = subparsers.add_parser("ingest", help="register and load one file drop (CSV, XLSX, Parquet)")
    ingest.add_argument("path", help="the file; copied into the landing folder if it is elsewhere")
    ingest.add_argument("--profile", help="source profile: a name (crmwh profile list) or a path to a .toml file "
                                          "(default: matched by the file's columns)")
    ingest.set_defaults(handler=_ingest)

    run = subparsers.add_parser("run", help="extract, stage, validate and load (CRM database + landing folder)")
    run.add_argument("--start", help="data interval start (YYYY-MM-DD): backfill from here")
    run.add_argument("--end", help="data interval end = extraction cut-off (default: now)")
    run.add_argument("--no-files", action="store_true", help="skip the landing folder")
    run.add_argument("--no-crm", action="store_true", help="skip the CRM database")
    run.set_defaults(handler=_run)

    status = subparsers.add_parser("status", help="last batches, row accounting and failures")
    status.add_argument("--json", action="store_true", help="one JSON array of batches (see docs: JSON output)")
    status.add_argument("--limit", type=positive_int, default=20, help="number of batches (default 20)")
    status.set_defaults(handler=_status)


def _ingest(args: argparse.Namespace) -> int:
    from warehouse.ops.pipeline import ingest_file

    result = ingest_file(get_settings(), args.path, args.profile)
    if result.status == "duplicate":
        print(f"{result.file_name}: same content already loaded (batch {result.batch_id}); nothing loaded")
        return 0
    if result.status == "superseded":
        print(f"{result.file_name}: {' '.join(result.notes)}")
        return 0
    print(f"{result.file_name} [{result.profile}] batch {result.batch_id}: {result.status}; "
          f"read {result.rows_read}, loaded {result.rows_loaded}, quarantined {result.rows_quarantined}, "
          f"warnings {result.warnings}" + (f", blank lines skipped {result.rows_blank}" if result.rows_blank else ""))
    for note in result.notes:
        print(f"  note: {note}")
    if result.error:
        print(f"  error: {result.error}")
    return 0 if result.status == "succeeded" else 1


def _run(args: argparse.Namespace) -> int:
    from warehouse.ops.pipeline import Interval, run

    interval = Interval.parse(args.start, args.end)
    summary = run(get_settings(), interval, include_crm=not args.no_crm, include_files=not args.no_files)
    print(f"run {summary.run_id}: {len(summary.batch_ids)} batch(es); read {summary.rows_read}, "
          f"loaded {summary.rows_loaded}, quarantined {summary.rows_quarantined}, "
          f"warnings {summary.warnings}, rejected files {len(summary.rejected)}")
    for name, reason in summary.file_problems:
        print(f"  file not loaded: {name}: {reason}")
    for note in summary.file_notes:
        print(f"  note: {note}")
    for item in summary.skipped:
        print(f"  skipped in landing: {item.path}: {item.reason}")
    return 0


def recent_batches(settings: Settings, limit: int = 20) -> list[dict[str, Any]]:
    """The last ``limit`` batches from ``audit.load_batches`` (newest first), each with its validation
    status (``warehouse.quality.validation_status``) and, for a running batch, whether its writer is alive.

    Raises PipelineBusyError (with the lock holder) while a run writes the warehouse and
    CorruptFileError when the file is damaged; an absent warehouse gives ``[]``."""
    if not settings.warehouse_path.exists():
        return []
    from warehouse.foundation.db import (
        Writer,
        column_types,
        current_writer,
        table_exists,
        warehouse_reader,
        writer_is_gone,
    )
    from warehouse.quality.validation_status import status_sql

    with warehouse_reader(settings) as con:
        columns = column_types(con, "audit.load_batches")
        if not columns:
            return []
        has_results = table_exists(con, "audit.validation_results")
        wanted = [f"b.{c}" if c in columns else f"null as {c}" for c in STATUS_COLUMNS]
        validation = (f"(select {status_sql('v.severity', 'v.success')} from audit.validation_results v "
                      "where v.batch_id = b.batch_id)") if has_results else "'not_validated'"
        rows = con.execute(f"select {', '.join(wanted)}, {validation} as validation from audit.load_batches b "  # noqa: S608 - constant column names
                           "order by started_at desc, batch_id desc limit ?", [limit]).fetchall()
    me = current_writer()
    batches = []
    for row in rows:
        batch = dict(zip((*STATUS_COLUMNS, "validation"), row, strict=True))
        writer = Writer.from_json(batch.pop("writer"))
        batch["writer"] = writer.describe() if writer else None
        batch["writer_gone"] = (batch["status"] == "running" and writer is not None and writer.kind == "process"
                                and writer_is_gone(writer, me))
        batches.append(batch)
    return batches


def _status(args: argparse.Namespace) -> int:
    settings = get_settings()
    batches = recent_batches(settings, args.limit)
    if args.json:
        from warehouse.foundation.jsonout import write_rows

        write_rows(batches, sys.stdout)
        return 0
    if not batches:
        where = (f"no warehouse at {settings.warehouse_path}" if not settings.warehouse_path.exists()
                 else f"no batches in {settings.warehouse_path}")
        print(f"{where} (data directory {settings.data_dir}; set CRMWH_DATA_DIR or data_dir in crmwh.toml to "
              "look elsewhere). Load data with `crmwh pipeline`, `crmwh run` or `crmwh ingest PATH`.")
        return 0
    print(f"{'started':19}  {'source':22} {'entity':16} {'status':10} {'validation':13} {'read':>9} "
          f"{'loaded':>9} {'quarant.':>8} {'warn':>4}")
    for b in batches:
        started = b["started_at"].strftime("%Y-%m-%d %H:%M:%S") if b["started_at"] else ""
        print(f"{started:19}  {b['source'][:22]:22} {b['entity'][:16]:16} {b['status']:10} "
              f"{(b['validation'] or ''):13} {b['rows_read']:>9} {b['rows_loaded']:>9} "
              f"{b['rows_quarantined']:>8} {b['warnings']:>4}")
        if b["status"] == "running" and b["writer"]:
            state = ("stopped without finishing: the next run marks it abandoned" if b["writer_gone"]
                     else "in progress")
            print(f"{'':21}writer: {b['writer']}: {state}")
        if b["error"]:
            print(f"{'':21}error: {b['error']}")
        if b.get("notes"):
            print(f"{'':21}note: {b['notes']}")
    failed = sum(1 for b in batches if b["status"] in ("failed", "rejected"))
    abandoned = sum(1 for b in batches if b["status"] == "abandoned")
    read = sum(b["rows_read"] for b in batches)
    accounted = sum(b["rows_loaded"] + b["rows_quarantined"] for b in batches if b["status"] == "succeeded")
    print(f"{len(batches)} batch(es): {failed} failed or rejected" + (f", {abandoned} abandoned" if abandoned else "")
          + f"; rows read {read}, accounted in succeeded batches {accounted}; warnings "
          f"{sum(b['warnings'] for b in batches)}")
    for path, reason in skipped_files(settings):
        print(f"skipped in the landing folder: {path}: {reason}")
    return 0


def skipped_files(settings: Settings) -> list[tuple[str, str]]:
    """Paths the last scan of the landing folder skipped (``audit.skipped_files``), with the reason."""
    from warehouse.foundation.db import table_exists, warehouse_reader
    from warehouse.foundation.errors import CrmwhError

    if not settings.warehouse_path.exists():
        return []
    try:
        with warehouse_reader(settings) as con:
            if not table_exists(con, "audit.skipped_files"):
                return []
            return [(r[0], r[1]) for r in con.execute(
                "select path, reason from audit.skipped_files order by path").fetchall()]
    except CrmwhError:  # a run took the file for writing meanwhile: the batches above were shown
        return []
