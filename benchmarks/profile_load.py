"""Time every SQL statement of one pipeline run (``crmwh run`` without file drops), by the line that ran it.

    CRMWH_DATA_DIR=DIR CRMWH_VALIDATION__DATA_DOCS_ENABLED=false \\
        .venv/bin/python benchmarks/profile_load.py 2026-01-02 [--json statements.json]

Every connection ``warehouse.foundation.db.connect`` opens is wrapped so that each ``execute``/``executemany``/``sql``
is timed and attributed to its caller (file:line:function). Prints the import time, the run time, the
callers taking the most time, the slowest statements and the share of the statements under 20 ms (the
fixed per-statement cost of a run). Used for the incremental-day profile in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from typing import Any

STARTED = time.perf_counter()

import duckdb  # noqa: E402

import warehouse.foundation.db as db  # noqa: E402

Record = tuple[str, str, float]
RECORDS: list[Record] = []


class TimedConnection:
    """A DuckDB connection whose statements are timed into :data:`RECORDS`."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def _timed(self, method: str, sql: object, *args: object) -> Any:
        frame = sys._getframe(2)
        where = f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}:{frame.f_code.co_name}"
        started = time.perf_counter()
        try:
            return getattr(self._con, method)(sql, *args)
        finally:
            RECORDS.append((where, " ".join(str(sql).split())[:300], time.perf_counter() - started))

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
    args = parser.parse_args()
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
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(RECORDS, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
