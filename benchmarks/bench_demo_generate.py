"""Benchmark: generate the demo CRM source at a given scale (default: large) into SQLite.

Targets from issue 2: the large scale (about 200,000 customers, 1,000,000 orders, 5,000,000 order
lines, 300,000 tickets) in under 3 minutes and under 4 GiB peak memory.

Also compares the bulk loader (ADBC ``adbc_ingest`` from Arrow) with SQLAlchemy Core ``executemany``
on the same order lines (a sample, written to separate SQLite files), the usual way to load rows
through SQLAlchemy.

    .venv/bin/python benchmarks/bench_demo_generate.py [--scale large] [--profile retail] [--seed 42]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import describe_machine  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from warehouse.demo.config import planned_counts  # noqa: E402
from warehouse.demo.generator import GenerateOptions, build_dataset, generate  # noqa: E402
from warehouse.demo.writer import BulkWriter, to_arrow_table  # noqa: E402
from warehouse.ingest import source_contract as schema  # noqa: E402

TARGET_SECONDS = 180.0
TARGET_PEAK_GIB = 4.0


def machine() -> str:
    return describe_machine("adbc-driver-sqlite", "numpy")


class PeakSampler:
    """Samples this process's RSS every 50 ms (getrusage gives the same peak, this shows it live)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        proc = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, proc.memory_info().rss)
            self._stop.wait(0.05)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def compare_loaders(rows: int, workdir: Path) -> None:
    """ADBC bulk ingest vs SQLAlchemy Core executemany on the same order lines."""
    data = build_dataset(GenerateOptions(scale="medium", seed=1))
    lines = {k: v[:rows] for k, v in data.tables["order_lines"].items()}
    n = len(lines["order_line_id"])
    table = schema.order_lines
    results = {}
    for name in ("adbc", "core_executemany"):
        path = workdir / f"loader_{name}.sqlite"
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        engine = sa.create_engine(url)
        schema.metadata.create_all(engine, tables=[schema.orders, schema.order_lines])
        started = time.perf_counter()
        if name == "adbc":
            writer = BulkWriter(url)
            writer.append(table, lines)
            writer.dispose()
        else:
            rows_py = to_arrow_table(table, lines, "generic").to_pylist()
            with engine.begin() as conn:
                conn.execute(table.insert(), rows_py)
        seconds = time.perf_counter() - started
        engine.dispose()
        results[name] = seconds
        print(f"  {name:<18} {n:>9,} order lines in {seconds:6.2f}s  ({n / seconds:>10,.0f} rows/s)")
    print(f"  ADBC is {results['core_executemany'] / results['adbc']:.1f}x faster than Core executemany")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--profile", default="retail", choices=("retail", "services"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="where the SQLite file goes (default: temp)")
    parser.add_argument("--compare-rows", type=int, default=200_000,
                        help="order lines for the ADBC vs Core executemany comparison (0 skips it)")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="crmwh_bench_demo_"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / f"demo_{args.scale}_{args.profile}.sqlite"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"generating scale={args.scale} profile={args.profile} seed={args.seed} -> {db}")
    print(f"planned: {planned_counts(args.scale, args.profile)}")
    opts = GenerateOptions(scale=args.scale, profile=args.profile, seed=args.seed)
    cpu0 = time.process_time()
    with PeakSampler() as sampler:
        started = time.perf_counter()
        result = generate(url, workdir / "ground_truth.json", opts)
        seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    peak_rusage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    peak = max(peak_rusage, sampler.peak)
    total_rows = sum(result.counts.values())
    print("rows written:")
    for table, count in result.counts.items():
        print(f"  {table:<16} {count:>12,}")
    print(f"  {'total':<16} {total_rows:>12,}")
    print(f"phases (s): {result.timings}")
    print(f"wall time: {seconds:.1f}s  (cpu {cpu:.1f}s; {total_rows / seconds:,.0f} rows/s)")
    print(f"peak memory: {peak / 2**30:.2f} GiB  (getrusage {peak_rusage / 2**30:.2f}, sampled {sampler.peak / 2**30:.2f})")
    print(f"SQLite file: {db.stat().st_size / 2**20:,.0f} MiB")
    ok = seconds < TARGET_SECONDS and peak < TARGET_PEAK_GIB * 2**30
    print(f"targets (< {TARGET_SECONDS:.0f}s, < {TARGET_PEAK_GIB:.0f} GiB): {'PASS' if ok else 'FAIL'}")
    if args.compare_rows:
        print(f"loader comparison ({args.compare_rows:,} order lines from the medium scale):")
        compare_loaders(args.compare_rows, workdir)
    if args.workdir is None:
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
