"""Time every SQL statement of one pipeline run (``crmwh run`` without file drops), by the line that ran it.

    CRMWH_DATA_DIR=DIR CRMWH_VALIDATION__DATA_DOCS_ENABLED=false \\
        .venv/bin/python benchmarks/profile_load.py 2026-01-02 [--json statements.json]

Every connection ``warehouse.foundation.db.connect`` opens is wrapped so that each ``execute``/``executemany``/``sql``
is timed and attributed to its caller (file:line:function). Prints the import time, the run time, the
callers taking the most time, the slowest statements and the share of the statements under 20 ms (the
fixed per-statement cost of a run). ``--explain REGEX`` runs DuckDB's profiler on the matching statements
and writes their slowest operators (with the row groups each scan read) to ``--plans``. Used for the incremental-day profile in BENCHMARKS.md.

On a warehouse restored by copying a saved one, run ``sync`` after the copy: the copy's pages are still
dirty in the page cache, and the run's first commit would write them all (1.2-1.4 s on the large demo).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()

import duckdb  # noqa: E402

import warehouse.foundation.db as db  # noqa: E402

Record = tuple[str, str, float]
RECORDS: list[Record] = []
EXPLAIN: dict[str, Any] = {"pattern": None, "plans": []}  # --explain: statements profiled operator by operator


PENDING: dict[int, tuple[duckdb.DuckDBPyConnection, Path, str]] = {}


def _operators(node: dict[str, Any]) -> list[tuple[float, str]]:
    """(seconds, label) of a profiled plan node and every node below it."""
    info = node.get("extra_info") or {}
    label = info.get("Table") or info.get("Conditions") or info.get("Join Type") or ""
    scanned = (f" row groups {node['row_groups_scanned']}/{node['total_row_groups_to_scan']}"
               if "row_groups_scanned" in node else "")
    out = [(node.get("timing", 0.0), f"{node.get('type')} {str(label)[:80]} rows {node.get('intermediate_rows')}{scanned}")]
    for child in node.get("children", []):
        out += _operators(child)
    return out


def flush_profile(con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Switch the profiler off on ``con`` (every connection when None) and keep the slowest operators of
    the statement it profiled."""
    for key in [k for k in PENDING if con is None or k == id(con)]:
        owner, out, head = PENDING.pop(key)
        with contextlib.suppress(duckdb.Error):  # closed since
            owner.execute("set enable_profiling = 'no_output'")
        operators: list[tuple[float, str]] = []
        if out.exists():
            for node in json.loads(out.read_text(encoding="utf-8")).get("operator", []):
                operators += _operators(node)
            out.unlink()
        top = "\n".join(f"  {t:7.3f}  {label}" for t, label in sorted(operators, reverse=True)[:8])
        EXPLAIN["plans"].append(f"{head}\n{top}")


class TimedConnection:
    """A DuckDB connection whose statements are timed into :data:`RECORDS`."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def _timed(self, method: str, sql: object, *args: object) -> Any:
        frame = sys._getframe(2)
        where = f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}:{frame.f_code.co_name}"
        flush_profile(self._con)  # before the clock starts: reading a profile is not this statement's time
        pattern = EXPLAIN["pattern"]
        profiled = method == "execute" and pattern is not None and pattern.search(str(sql)) is not None
        if profiled:  # read when the connection's next statement runs: switching it off now would discard the result
            out = Path(tempfile.gettempdir()) / f"crmwh_profile_{id(self._con)}.json"
            self._con.execute("set enable_profiling = 'json'")
            self._con.execute(f"set profiling_output = '{out}'")
        started = time.perf_counter()
        try:
            return getattr(self._con, method)(sql, *args)
        finally:
            text = " ".join(str(sql).split())
            RECORDS.append((where, text[:300], time.perf_counter() - started))
            if profiled:
                PENDING[id(self._con)] = (self._con, out, f"-- {RECORDS[-1][2]:.3f} s  {where}\n{text[:400]}")

    def execute(self, sql: object, *args: object) -> Any:
        return self._timed("execute", sql, *args)

    def executemany(self, sql: object, *args: object) -> Any:
        return self._timed("executemany", sql, *args)

    def sql(self, sql: object, *args: object) -> Any:
        return self._timed("sql", sql, *args)

    def cursor(self) -> TimedConnection:
        return TimedConnection(self._con.cursor())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def __enter__(self) -> TimedConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.__exit__(*exc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("end", help="the run's cut-off (YYYY-MM-DD)")
    parser.add_argument("--json", help="write every (caller, statement, seconds) here")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--explain", metavar="REGEX",
                        help="profile the statements matching REGEX with DuckDB's profiler; their slowest "
                             "operators go to --plans")
    parser.add_argument("--plans", default="plans.txt", help="where --explain writes the plans")
    args = parser.parse_args()
    if args.explain:
        EXPLAIN["pattern"] = re.compile(args.explain)
    real_connect = db.connect

    def timed_connect(*a: Any, **k: Any) -> Any:
        return TimedConnection(real_connect(*a, **k))

    db.connect = timed_connect  # type: ignore[assignment]
    from warehouse.foundation.settings import load_settings
    from warehouse.ops import pipeline

    imported = time.perf_counter()
    summary = pipeline.run(load_settings(), pipeline.Interval.parse(None, args.end), include_files=False)
    finished = time.perf_counter()
    by_caller: dict[str, list[float]] = defaultdict(list)
    for where, _, seconds in RECORDS:
        by_caller[where].append(seconds)
    print(f"imports {imported - STARTED:.2f} s, run {finished - imported:.2f} s, {len(RECORDS)} statements "
          f"taking {sum(r[2] for r in RECORDS):.2f} s; read {summary.rows_read:,}, loaded {summary.rows_loaded:,}")
    print("--- callers (seconds, statements)")
    for where, times in sorted(by_caller.items(), key=lambda kv: -sum(kv[1]))[:args.top]:
        print(f"{sum(times):7.3f} {len(times):5d}  {where}")
    print("--- slowest statements")
    for where, sql, seconds in sorted(RECORDS, key=lambda r: -r[2])[:args.top]:
        print(f"{seconds:7.3f}  {where}  {sql[:140]}")
    small = [r[2] for r in RECORDS if r[2] < 0.02]
    print(f"--- {len(small)} statements under 20 ms taking {sum(small):.2f} s")
    flush_profile()
    if args.explain:
        with open(args.plans, "w", encoding="utf-8") as fh:
            fh.write("\n\n".join(EXPLAIN["plans"]))
        print(f"--- {len(EXPLAIN['plans'])} plans in {args.plans}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(RECORDS, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
