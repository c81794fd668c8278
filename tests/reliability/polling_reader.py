"""The BI reader of the crash trials: tests/sql/published_reader.py's read functions in a loop with a
short pause (so the poller does not take a whole core from the pipeline it watches).

    python polling_reader.py PUBLISHED_DB PARQUET_DIR PROGRESS_FILE STOP_FILE [PAUSE_S]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sql"))

from published_reader import read_duckdb, read_parquet  # noqa: E402


def main() -> int:
    db_path, parquet_dir, progress, stop = (Path(a) for a in sys.argv[1:5])
    pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0.05
    deadline = time.monotonic() + 3600  # never outlive a broken test
    with progress.open("a", encoding="utf-8") as out:
        while not stop.exists() and time.monotonic() < deadline:
            for reader, target in ((read_duckdb, db_path), (read_parquet, parquet_dir)):
                try:
                    record = reader(target)
                except Exception as exc:  # noqa: BLE001 - every error is what the test counts
                    record = {"path": reader.__name__, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
                out.write(json.dumps(record) + "\n")
                out.flush()
            time.sleep(pause)
    return 0


if __name__ == "__main__":
    sys.exit(main())
