"""Validation cost against load cost on the demo source (issue 4: validation <= half the load time).

Generates the demo CRM at the chosen scale into a scratch data directory (or reuses it), then runs the
pipeline's task functions in order, timing each: extract, stage, validate (warehouse.quality.validation:
DuckDB predicates + quarantine, plus Great Expectations' pandas run and Data Docs), load dimensions,
load facts. "Load" is load dimensions + load facts; the ratio printed is validate / load. The time
spent inside Great Expectations is measured separately (a timing wrapper around run_suite).

    .venv/bin/python benchmarks/bench_validation.py --scale large
    .venv/bin/python benchmarks/bench_validation.py --scale small --no-ge   # DuckDB engine only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import describe_machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def machine() -> str:
    return describe_machine("duckdb", "great-expectations")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("small", "medium", "large"), default="large")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="scratch data directory (default benchmarks/out/validation_<scale>)")
    parser.add_argument("--no-ge", action="store_true", help="skip Great Expectations / Data Docs")
    parser.add_argument("--keep-source", action="store_true", help="reuse a generated source if present")
    args = parser.parse_args()

    data_dir = (args.data_dir or ROOT / "benchmarks" / "out" / f"validation_{args.scale}").resolve()
    source = data_dir / "source"
    if data_dir.exists():
        for child in data_dir.iterdir():
            if child == source and args.keep_source:
                continue
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    os.environ["CRMWH_DATA_DIR"] = str(data_dir)
    os.environ["CRMWH_DEMO__SCALE"] = args.scale
    if args.no_ge:
        os.environ["CRMWH_VALIDATION__DATA_DOCS_ENABLED"] = "false"

    import psutil

    from warehouse.demo.generator import generate, options_from_settings, source_exists
    from warehouse.foundation.settings import load_settings
    from warehouse.ops import pipeline
    from warehouse.quality import data_docs

    settings = load_settings()
    settings.ensure_dirs()
    timings: dict[str, float] = {}
    if not source_exists(settings.source_url):
        t = time.perf_counter()
        generate(settings.source_url, settings.ground_truth_path, options_from_settings(settings, scale=args.scale))
        timings["generate_source"] = time.perf_counter() - t

    ge_seconds = 0.0
    run_suite = data_docs.run_suite

    def timed_run_suite(*a, **k):  # noqa: ANN002, ANN003
        nonlocal ge_seconds
        t0 = time.perf_counter()
        try:
            return run_suite(*a, **k)
        finally:
            ge_seconds += time.perf_counter() - t0

    data_docs.run_suite = timed_run_suite
    interval = pipeline.Interval.parse(None, None)
    proc = psutil.Process()

    cpu: dict[str, float] = {}

    def step(name: str, fn, *a):  # noqa: ANN001, ANN002
        t, c = time.perf_counter(), sum(proc.cpu_times()[:2])
        out = fn(*a)
        timings[name] = time.perf_counter() - t
        cpu[name] = sum(proc.cpu_times()[:2]) - c
        print(f"  {name:<16} {timings[name]:8.2f} s wall {cpu[name]:8.2f} s cpu   rss "
              f"{proc.memory_info().rss / 2**20:7.0f} MiB   load {os.getloadavg()[0]:.1f}", flush=True)
        return out

    batch_ids = step("extract", pipeline.extract_source, settings, "crm", interval)
    step("stage", pipeline.stage, settings, batch_ids)
    step("validate", pipeline.validate, settings, batch_ids)
    step("load_dimensions", pipeline.load_dimensions, settings, batch_ids)
    step("load_facts", pipeline.load_facts, settings, batch_ids, interval.end)

    import duckdb

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    rows = con.execute("""select table_name, max(rows_checked), sum(unexpected_count) filter (where severity = 'error')
                          from audit.validation_results where rule = '_rows_checked' or severity = 'error'
                          group by 1 order by 2 desc""").fetchall()
    accounting = con.execute("select sum(rows_read), sum(rows_loaded), sum(rows_quarantined), "
                             "count(*) filter (where status <> 'succeeded') from audit.load_batches").fetchone()
    mismatches = con.execute("""select table_name, rule, details from audit.validation_results
                                where rule = 'great_expectations_run' and not success""").fetchall()
    con.close()

    load = timings["load_dimensions"] + timings["load_facts"]
    ratio = timings["validate"] / load if load else float("nan")
    result = {
        "scale": args.scale, "machine": machine(), "great_expectations": not args.no_ge,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        "cpu_validate_over_load": round(cpu["validate"] / (cpu["load_dimensions"] + cpu["load_facts"]), 3),
        "validate_seconds": round(timings["validate"], 2), "ge_seconds": round(ge_seconds, 2),
        "duckdb_validation_seconds": round(timings["validate"] - ge_seconds, 2),
        "load_seconds": round(load, 2), "validate_over_load": round(ratio, 3),
        "rows_checked": {t: int(n) for t, n, _ in rows},
        "rows_read_loaded_quarantined": [int(x or 0) for x in accounting[:3]], "batches_not_succeeded": accounting[3],
        "ge_duckdb_disagreements": [(t, json.loads(d or "{}").get("mismatches")) for t, _, d in mismatches],
        "peak_rss_mib": round(proc.memory_info().rss / 2**20),
    }
    print(json.dumps(result, indent=2))
    print(f"validation / load = {ratio:.2f} ({'OK' if ratio <= 0.5 else 'OVER'} the 0.5 budget)")
    return 0 if ratio <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
