"""How the cost of each pipeline stage grows with the data: the small, medium and large demo (issue 8).

For each scale, in a fresh data directory, every stage runs in its own subprocess (as each Airflow task
does), calling the same functions the DAGs call, in the DAGs' order:

  generate   warehouse.demo.generator.generate (the demo CRM source, SQLite)
  extract    warehouse.ops.pipeline.extract_source (CRM -> raw, ADBC/Arrow)
  stage      warehouse.ops.pipeline.stage (raw -> staging)
  validate   warehouse.ops.pipeline.validate (Great Expectations + quarantine)
  load       warehouse.ops.pipeline.load_dimensions + load_facts (staging -> core star schema)
  mining     warehouse.ops.analytics_pipeline.mine (run_mining: itemsets, rules, cross-sell marts)
  churn      warehouse.ops.analytics_pipeline.score_churn (run_churn: features, model, scores, marts)
  publish    warehouse.ops.analytics_pipeline.publish_marts (read-only DuckDB + Parquet version)

Per stage: wall time of the stage function inside the subprocess (imports excluded), CPU time of the
subprocess (user + system, all threads), and peak memory (the subprocess's RSS high-water mark,
``VmHWM``: DuckDB, Arrow and GE all run in that process). The machine is shared, so the 1-minute load
average is recorded around every stage; CPU time is the steadier number.

``--scales 2xlarge`` adds a scale of twice the large one's customers, orders, tickets and interactions
(registered in the subprocess only; not a CLI scale).

Usage:
    .venv/bin/python benchmarks/bench_scaling.py --scales small,medium,large --markdown out.md
    .venv/bin/python benchmarks/bench_scaling.py --scales small            # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
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

STAGES = ("generate", "extract", "stage", "validate", "load", "mining", "churn", "publish")
SEED = 42


def _register_2xlarge() -> None:
    from warehouse.demo import config

    large = config.SCALES["large"]
    config.SCALES.setdefault("2xlarge", config.ScaleSpec(
        "2xlarge", 2 * large.customers, 2 * large.orders, 2 * large.tickets, 2 * large.interactions,
        2 * large.sales_reps, 2 * large.service_agents))


def _vmhwm_mib() -> float:
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------- child

def run_stage(name: str, scale: str, state_path: Path) -> dict:
    """One stage in this (fresh) process; ``state`` carries batch ids and dates between stages."""
    from warehouse.foundation.settings import load_settings

    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    settings = load_settings()
    settings.ensure_dirs()
    from warehouse.ops import analytics_pipeline as ap
    from warehouse.ops import pipeline

    t0 = time.perf_counter()
    c0 = time.process_time()
    info: dict = {}
    if name == "generate":
        _register_2xlarge()
        from warehouse.demo.generator import GenerateOptions, generate

        opts = GenerateOptions(scale=scale, seed=SEED)
        result = generate(settings.source_url, settings.ground_truth_path, opts, force=True)
        state["end"] = (datetime.combine(opts.end_date, datetime.min.time()) + timedelta(days=1)).isoformat()
        info = {"rows": sum(result.counts.values()), "order_lines": result.counts.get("order_lines"),
                "orders": result.counts.get("orders"), "customers": result.counts.get("customers")}
    elif name == "extract":
        interval = pipeline.Interval.parse(None, state["end"])
        state["batch_ids"] = pipeline.extract_source(settings, "crm", interval, "bench_scaling")
        info = {"batches": len(state["batch_ids"])}
    elif name == "stage":
        pipeline.stage(settings, state["batch_ids"])
    elif name == "validate":
        pipeline.validate(settings, state["batch_ids"])
    elif name == "load":
        pipeline.load_dimensions(settings, state["batch_ids"])
        pipeline.load_facts(settings, state["batch_ids"], pipeline.Interval.parse(None, state["end"]).end)
        rows = pipeline.batch_summary(settings, state["batch_ids"])
        info = {k: sum(r[k] for r in rows) for k in ("rows_read", "rows_loaded", "rows_quarantined")}
        info["warehouse_mib"] = round(Path(settings.warehouse_path).stat().st_size / 2**20)
    elif name == "mining":
        as_of = ap.resolve_as_of(settings)
        state["as_of"] = as_of.isoformat()
        counts = ap.mine(settings, as_of)
        info = {"baskets": counts.get("baskets"), "rules": counts.get("analytics.association_rules"),
                "itemsets": counts.get("analytics.basket_itemsets")}
    elif name == "churn":
        from datetime import date

        counts = ap.score_churn(settings, date.fromisoformat(state["as_of"]))
        info = {k: v for k, v in counts.items() if k.startswith("marts.") or k in ("customers", "features")}
    elif name == "publish":
        result = ap.publish_marts(settings, f"bench_scaling__{state['as_of']}")
        info = {"rows": sum(result["row_counts"].values()), "validation_status": result["validation_status"]}
    else:
        raise SystemExit(f"unknown stage {name}")
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    state_path.write_text(json.dumps(state))
    return {"stage": name, "seconds": round(seconds, 2), "cpu_s": round(cpu, 2), "peak_mib": round(_vmhwm_mib()),
            "info": info}


# --------------------------------------------------------------------------------------------- parent

def machine() -> str:
    return describe_machine("duckdb", "polars")


def run_scale(scale: str, data_dir: Path, env_base: dict[str, str], stages: tuple[str, ...]) -> list[dict]:
    env = {**env_base, "CRMWH_DATA_DIR": str(data_dir)}
    state = data_dir / "bench_state.json"
    results = []
    for name in stages:
        load_before = os.getloadavg()[0]
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child", name, "--scale", scale, "--state", str(state)],
                              env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            results.append({"scale": scale, "stage": name, "status": f"failed (exit {proc.returncode})",
                            "error": tail})
            print(f"{scale:8} {name:9} FAILED\n{tail}", flush=True)
            break
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        r.update({"scale": scale, "status": "ok", "process_s": round(wall, 1),
                  "load_avg": f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"})
        results.append(r)
        print(f"{scale:8} {name:9} {r['seconds']:8.1f} s  cpu {r['cpu_s']:8.1f} s  peak {r['peak_mib']:6,} MiB  "
              f"load {r['load_avg']}  {json.dumps(r['info'])}", flush=True)
    return results


def markdown(results: list[dict], command: str, header: str) -> str:
    scales = list(dict.fromkeys(r["scale"] for r in results))
    by = {(r["scale"], r["stage"]): r for r in results}
    lines = [f"Command: `{command}`", "", header, "",
             "Each cell: wall time of the stage / CPU time / peak RSS of its process.", "",
             "| stage | " + " | ".join(scales) + " |", "|---|" + "---|" * len(scales)]
    for stage in STAGES:
        cells = []
        for s in scales:
            r = by.get((s, stage))
            if r is None:
                cells.append("not run")
            elif r["status"] != "ok":
                cells.append(r["status"])
            else:
                cells.append(f"{r['seconds']:,.1f} s / {r['cpu_s']:,.1f} s / {r['peak_mib']:,} MiB")
        if any(c != "not run" for c in cells):
            lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    totals = []
    for s in scales:
        ok = [r for r in results if r["scale"] == s and r["status"] == "ok"]
        totals.append(f"{sum(r['seconds'] for r in ok):,.1f} s / {sum(r['cpu_s'] for r in ok):,.1f} s / "
                      f"{max((r['peak_mib'] for r in ok), default=0):,} MiB max")
    lines.append("| **all stages** | " + " | ".join(totals) + " |")
    lines += ["", "| scale | source rows | order lines | rows loaded / quarantined | warehouse file | baskets | "
              "rules | published rows | load average during its stages |", "|---|---|---|---|---|---|---|---|---|"]
    for s in scales:
        g = by.get((s, "generate"), {}).get("info", {})
        ld = by.get((s, "load"), {}).get("info", {})
        mn = by.get((s, "mining"), {}).get("info", {})
        pb = by.get((s, "publish"), {}).get("info", {})
        loads = [float(x) for r in results if r["scale"] == s and r["status"] == "ok" for x in r["load_avg"].split("-")]

        def f(v: object) -> str:
            return f"{v:,}" if isinstance(v, int) else "-"
        lines.append(f"| {s} | {f(g.get('rows'))} | {f(g.get('order_lines'))} | {f(ld.get('rows_loaded'))} / "
                     f"{f(ld.get('rows_quarantined'))} | {f(ld.get('warehouse_mib'))} MiB | {f(mn.get('baskets'))} | "
                     f"{f(mn.get('rules'))} | {f(pb.get('rows'))} | "
                     f"{min(loads, default=0):.1f}-{max(loads, default=0):.1f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scale", help=argparse.SUPPRESS)
    parser.add_argument("--scales", default="small,medium,large", help="comma-separated: small,medium,large,2xlarge")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset, in pipeline order")
    parser.add_argument("--data-root", type=Path, help="parent of the per-scale data directories (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    parser.add_argument("--markdown", type=Path, help="write the tables here (to paste into BENCHMARKS.md)")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    args = parser.parse_args()

    if args.child:
        print(json.dumps(run_stage(args.child, args.scale, args.state), default=str))
        return 0

    import psutil

    command = "python benchmarks/bench_scaling.py " + " ".join(sys.argv[1:])
    started = datetime.now().strftime("%Y-%m-%d %H:%M")
    header = (f"Machine: {machine()}; run {started} UTC; 1-minute load average at the start "
              f"{os.getloadavg()[0]:.1f}, available memory {psutil.virtual_memory().available / 2**30:.1f} GiB.")
    print(header, flush=True)
    root = args.data_root or Path(tempfile.mkdtemp(prefix="crmwh_bench_scaling_"))
    root.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMWH_")}
    stages = tuple(s for s in STAGES if s in args.stages.split(","))
    results: list[dict] = []
    try:
        for scale in args.scales.split(","):
            data_dir = root / scale
            if data_dir.exists() and "generate" in stages:
                shutil.rmtree(data_dir)
            data_dir.mkdir(parents=True, exist_ok=True)
            results += run_scale(scale, data_dir, env, stages)
            if not args.keep:
                shutil.rmtree(data_dir, ignore_errors=True)
            if args.json:
                args.json.write_text(json.dumps(results, indent=2, default=str))
    finally:
        if not args.keep and args.data_root is None:
            shutil.rmtree(root, ignore_errors=True)
    text = markdown(results, command, header)
    print("\n" + text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
