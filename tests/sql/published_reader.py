"""A BI reader in its own process: queries the published marts in a loop until told to stop.

Every read opens ``published/marts.duckdb`` read-only (as a BI tool does), reads the manifest and counts
every table; it also reads the Parquet folder (resolved once per read) the same way. One JSON line per
read goes to the progress file: the run id seen, whether the counts matched that manifest, any error.

    python published_reader.py PUBLISHED_DB PARQUET_DIR PROGRESS_FILE STOP_FILE [PAUSE_S [MAX_S]]

PAUSE_S (default 0) paces the reads so a long-running poller does not take a whole core from the
pipeline it watches; MAX_S (default 120) bounds its life should a broken test never say stop.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq


def read_duckdb(path: Path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        manifest = con.execute("select run_id, table_name, row_count from marts.publish_manifest").fetchall()
        run_ids = {r[0] for r in manifest}
        mismatches = []
        for _, table, expected in manifest:
            (actual,) = con.execute(f'select count(*) from marts."{table}"').fetchone()
            if actual != expected:
                mismatches.append(f"{table}: {actual} != {expected}")
        return {"path": "duckdb", "run_ids": sorted(run_ids), "ok": len(run_ids) == 1 and not mismatches,
                "mismatches": mismatches, "tables": len(manifest)}
    finally:
        con.close()


def read_parquet(folder: Path) -> dict:
    resolved = Path(os.path.realpath(folder))  # one version for the whole read
    manifest = pq.read_table(resolved / "publish_manifest.parquet").to_pylist()
    run_ids = {r["run_id"] for r in manifest}
    mismatches = []
    for row in manifest:
        actual = pq.read_metadata(resolved / f"{row['table_name']}.parquet").num_rows
        if actual != row["row_count"]:
            mismatches.append(f"{row['table_name']}: {actual} != {row['row_count']}")
    return {"path": "parquet", "run_ids": sorted(run_ids), "ok": len(run_ids) == 1 and not mismatches,
            "mismatches": mismatches, "tables": len(manifest)}


def main() -> int:
    db_path, parquet_dir, progress, stop = (Path(a) for a in sys.argv[1:5])
    pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    deadline = time.monotonic() + (float(sys.argv[6]) if len(sys.argv) > 6 else 120)
    with progress.open("a", encoding="utf-8") as out:
        while not stop.exists() and time.monotonic() < deadline:
            for reader, target in ((read_duckdb, db_path), (read_parquet, parquet_dir)):
                try:
                    record = reader(target)
                except Exception as exc:  # noqa: BLE001 - every error is what the test counts
                    record = {"path": reader.__name__, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
                out.write(json.dumps(record) + "\n")
                out.flush()
            if pause:
                time.sleep(pause)
    return 0


if __name__ == "__main__":
    sys.exit(main())
