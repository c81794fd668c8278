"""CLI start-up: ``crmwh --help``, ``crmwh status`` and ``crmwh query`` against a bare ``import duckdb``.

    .venv/bin/python benchmarks/bench_cli_startup.py [--rounds 15] [--before DIR]

``--before DIR``: also time the same commands from another checkout of the code (e.g. ``git archive
f3015cd | tar -x -C DIR``), run with this interpreter and ``PYTHONPATH=DIR``, for a before/after.

Target (issue 17): each command within 3x the wall time of ``python -c "import duckdb"`` (the least
any command that reads a DuckDB file can cost). The machine is shared and noisy, so the commands run
in interleaved rounds (baseline, then each command, round after round) and the ratio is taken pair by
pair within a round; the median ratio is the figure, the min and max show the noise.

Prepared first (not timed): a data directory with a working warehouse holding a few hundred loaded
batches (for ``status``) and a published version of small marts (for ``query``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import describe_machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
CRMWH = str(Path(sys.executable).with_name("crmwh"))
TARGET_RATIO = 3.0


def prepare(data_dir: Path) -> None:
    from warehouse.foundation.db import warehouse_writer
    from warehouse.foundation.settings import load_settings
    from warehouse.serve.publish import publish

    settings = load_settings({"CRMWH_DATA_DIR": str(data_dir)})
    settings.ensure_dirs()
    with warehouse_writer(settings) as con:
        start = datetime(2025, 1, 1)
        con.executemany(
            "insert into audit.load_batches (batch_id, run_id, source, entity, source_kind, started_at, finished_at, "
            "rows_read, rows_loaded, status, step) values (?, ?, 'crm', ?, 'database', ?, ?, 100, 100, 'succeeded', 'loaded')",
            [(f"b{i}", f"run{i // 8}", f"entity{i % 8}", start + timedelta(hours=i), start + timedelta(hours=i, minutes=1))
             for i in range(400)])
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.customer_retention as select 'C' || i as customer_id, "
                    "i % 100 / 100.0 as risk_score from range(20000) t(i)")
        con.execute("comment on table marts.customer_retention is 'grain: one row per customer; retention'")
        con.execute("comment on column marts.customer_retention.customer_id is 'customer business id'")
        con.execute("comment on column marts.customer_retention.risk_score is 'churn risk'")
        publish(settings, "bench", None, "passed", con=con)


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall time of one run, from a neutral working directory (`python -c` puts it first on sys.path)."""
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,  # noqa: S603
                          cwd=env["CRMWH_DATA_DIR"])
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {proc.stderr.decode()[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--before", type=Path, default=None, help="another checkout to time the same commands from")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crmwh-bench-cli-") as tmp:
        data_dir = Path(tmp) / "data"
        prepare(data_dir)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("CRMWH_")}, "CRMWH_DATA_DIR": str(data_dir)}
        baseline = [PYTHON, "-c", "import duckdb"]
        commands = {
            "crmwh --help": [CRMWH, "--help"],
            "crmwh status": [CRMWH, "status"],
            "crmwh query": [CRMWH, "query", "select count(*) from customer_retention"],
        }
        if args.before is not None:
            old = [PYTHON, "-c", "import sys; from warehouse.cli import main; sys.exit(main())"]
            commands.update({f"before: {name}": [*old, *command[1:]] for name, command in list(commands.items())})
        before_env = {**env, "PYTHONPATH": str(args.before.resolve())} if args.before is not None else env
        for name, command in commands.items():  # warm the page cache once
            timed(command, before_env if name.startswith("before:") else env)
        timed(baseline, env)
        base_times: list[float] = []
        times: dict[str, list[float]] = {name: [] for name in commands}
        ratios: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            base = timed(baseline, env)
            base_times.append(base)
            for name, command in commands.items():
                t = timed(command, before_env if name.startswith("before:") else env)
                times[name].append(t)
                ratios[name].append(t / base)
    print(f"machine: {describe_machine('duckdb')}")
    print(f"command: {' '.join([Path(PYTHON).name, *sys.argv])}; {args.rounds} interleaved rounds")
    print(f"baseline python -c 'import duckdb': median {statistics.median(base_times):.3f}s "
          f"(min {min(base_times):.3f}, max {max(base_times):.3f})")
    verdict = True
    for name in commands:
        med = statistics.median(ratios[name])
        if not name.startswith("before:"):
            verdict &= med <= TARGET_RATIO
        print(f"{name:22} median {statistics.median(times[name]):.3f}s; ratio to baseline median {med:.2f}x "
              f"(min {min(ratios[name]):.2f}, max {max(ratios[name]):.2f}); target <= {TARGET_RATIO:.0f}x: "
              f"{'PASS' if med <= TARGET_RATIO else 'FAIL'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
