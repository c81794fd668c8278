"""``crmwh quarantine list|replay``: inspect rejected rows and re-validate them after a fix upstream."""

from __future__ import annotations

import argparse
import sys

from warehouse.commands.common import get_settings

TEXT_LIMIT = 100


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "quarantine",
        help="list quarantined rows or replay them (re-validate, load those that now pass)",
        description="Rows that broke an error-level rule are kept in quarantine.<table> with their raw "
                    "record, the rules they broke and a readable reason.",
    )
    sub = parser.add_subparsers(dest="quarantine_command", required=True, metavar="ACTION")
    lst = sub.add_parser("list", help="show quarantined rows (newest first)")
    lst.add_argument("--table", default=None, help="one guarded table, e.g. stg_files__sales_lines")
    lst.add_argument("--json", action="store_true", help="one JSON array of rows (see docs: JSON output)")
    lst.add_argument("--all", action="store_true", help="include rows already replayed")
    lst.add_argument("--limit", type=int, default=None,
                     help="show at most this many rows (default: 100 as text, all as JSON; 0 = all)")
    lst.set_defaults(handler=_list)
    rep = sub.add_parser("replay", help="re-validate quarantined rows and load those that now pass")
    rep.add_argument("--table", default=None, help="replay one guarded table only")
    rep.add_argument("--json", action="store_true", help="one JSON array of results, one per table")
    rep.set_defaults(handler=_replay)


def _list(args: argparse.Namespace) -> int:
    from warehouse.foundation.db import warehouse_reader
    from warehouse.foundation.jsonout import write_rows
    from warehouse.ops.replay import list_quarantined

    settings = get_settings()
    limit = args.limit if args.limit is not None else (None if args.json else TEXT_LIMIT)
    with warehouse_reader(settings) as con:
        rows = list_quarantined(con, args.table, include_replayed=args.all)
    total = len(rows)
    rows = rows[:limit] if limit else rows
    if args.json:
        write_rows(rows, sys.stdout)
        return 0
    if not rows:
        print("no quarantined rows" + (f" in {args.table}" if args.table else ""))
        return 0
    for r in rows:
        state = f" (replayed {r['replayed_at']:%Y-%m-%d %H:%M} in {r['replay_batch_id']})" if r["replayed_at"] else ""
        print(f"{r['table']}  batch {r['batch_id']}  row {r['source_row']}  [{', '.join(r['rules'])}]{state}")
        print(f"    reason: {r['reason']}")
        print(f"    raw:    {r['raw_record']}")
    more = f" (of {total}; --limit 0 shows all)" if total > len(rows) else ""
    print(f"{len(rows)} row(s){more}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from warehouse.ops.replay import replay

    results = replay(get_settings(), args.table)
    if args.json:
        from warehouse.foundation.jsonout import write_rows

        write_rows([r.as_dict() for r in results], sys.stdout)
        return 0
    if not results:
        print("nothing to replay")
    for r in results:
        if not r.candidates:
            print(f"{r.table}: nothing quarantined")
            continue
        print(f"{r.table}: {r.candidates} re-validated, {r.loaded} loaded"
              f"{' in batch ' + r.replay_batch_id if r.replay_batch_id else ''}, {r.still_quarantined} still quarantined")
    return 0
