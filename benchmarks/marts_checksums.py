"""Checksums of every published mart, to prove a refactoring changed nothing users read.

Each table of the published DuckDB file is reduced to one order-independent checksum of its rows (the sum of the row hashes, so a repeated row counts twice)
(columns sorted by name, so a reordered column list is not a difference). Columns that hold when or
by which run a table was made, not what it says, are left out: their names are in VOLATILE_COLUMNS.

    python benchmarks/marts_checksums.py data/published/marts.duckdb > before.json
    ... change the code, run the same pipeline again ...
    python benchmarks/marts_checksums.py data/published/marts.duckdb --compare before.json

With --compare the exit code is 1 when a table differs, appeared or disappeared.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb

# Run metadata, not content: which run and version published, and when.
VOLATILE_COLUMNS = frozenset({"run_id", "version", "published_at", "model_id", "computed_at",
                              "generated_at", "scored_at", "trained_at"})


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def checksums(path: Path) -> dict[str, dict[str, object]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' order by 1").fetchall()]
        out: dict[str, dict[str, object]] = {}
        for table in tables:
            columns = sorted(r[0] for r in con.execute(
                "select column_name from duckdb_columns() where schema_name = 'main' and table_name = ?",
                [table]).fetchall() if r[0] not in VOLATILE_COLUMNS)
            row = con.execute(
                f"select count(*), coalesce(sum(hash(struct_pack({', '.join(f'{_q(c)} := {_q(c)}' for c in columns)}))::hugeint), 0)"
                f" from {_q(table)}").fetchone()
            out[table] = {"rows": int(row[0]), "checksum": str(row[1]), "columns": columns}
        return out
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("published", type=Path, help="the published marts.duckdb")
    parser.add_argument("--compare", type=Path, help="a JSON file written by an earlier run of this script")
    args = parser.parse_args(argv)
    now = checksums(args.published)
    if args.compare is None:
        json.dump(now, sys.stdout, indent=1)
        print()
        return 0
    before = json.loads(args.compare.read_text())
    differences = 0
    for table in sorted(set(before) | set(now)):
        b, n = before.get(table), now.get(table)
        if b == n:
            print(f"same       {table} ({n['rows']} rows)")
            continue
        differences += 1
        if b is None or n is None:
            print(f"{'new' if b is None else 'missing':10} {table}")
        else:
            print(f"DIFFERENT  {table}: rows {b['rows']} -> {n['rows']}"
                  + ("" if b["columns"] == n["columns"] else f", columns {b['columns']} -> {n['columns']}"))
    print(f"{differences} table(s) differ")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
