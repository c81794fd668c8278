"""Mining engines at 1 and 5 million baskets: the default engine against Spark local mode (issue 8).

Data: synthetic baskets (``transforms.synthetic_baskets.synthesize_baskets``: 2,000 products with
Zipf popularity, about 5 items per basket, 30 planted bundles of 2-3 items, seed 2026), the shape of
the large demo's baskets, synthesized because the large demo has only about 1 million orders.
The same support fraction at every size (default 0.0002, the support of ``bench_mining.py`` on the
large demo), ``max_len`` 3, single-item consequents, ``min_confidence`` 0 (every rule).

Engines (each in its own subprocess, started from the same stored CSR arrays):
  default  ``transforms.association.mine`` (what ``crmwh mine`` runs without ``--engine``:
           counter ``auto``, i.e. the sparse counter at these sizes) and the rules on top
  spark    ``transforms.spark_engine.mine_spark`` on ``--spark-master`` (default ``local[2]``):
           the baskets handed to Spark as Python lists (``createDataFrame``), pyspark's FPGrowth, its
           itemsets and rules collected, then the same exact thresholds and metrics

Peak memory is the high-water mark of the summed RSS of the engine's whole process tree (the
Python process and, for Spark, the JVM it starts), sampled every 0.1 s by the parent with psutil;
the child also reports its own Python ``VmHWM``. Spark's driver heap is ``--driver-memory``
(``settings.mining.spark_driver_memory``, ``CRMWH_MINING__SPARK_DRIVER_MEMORY``; local mode runs the
executors inside the driver JVM).

Rules are compared exactly: the set of (antecedent, consequent) with their integer counts
(antecedent, consequent, both) must be identical, as must the frequent itemsets and their counts.

Usage:
    .venv/bin/python benchmarks/bench_spark_mining.py --baskets 1000000,5000000
    .venv/bin/python benchmarks/bench_spark_mining.py --baskets 20000 --engines default,spark   # smoke
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import describe_machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENGINES = ("default", "spark")


def machine() -> str:
    return describe_machine("pyspark", "mlxtend")


# ---------------------------------------------------------------------------------------------- child

def _load(path: Path):
    import scipy.sparse as sp

    from transforms.baskets import BasketSet

    with np.load(path, allow_pickle=False) as z:
        indptr, indices, items = z["indptr"], z["indices"], z["items"]
    n = len(indptr) - 1
    matrix = sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, len(items)))
    return BasketSet(matrix=matrix, items=items.astype(object), basket_ids=np.arange(n))


def _dump(result, out: Path) -> None:
    """Itemsets and rules with their integer counts, one per line, sorted (compared byte for byte)."""
    itemsets = sorted(f"I\t{' '.join(s)}\t{int(c)}" for s, c in zip(result.itemsets["itemset"],
                                                                      result.itemsets["count"], strict=True))
    r = result.rules
    rules = sorted(f"R\t{' '.join(a)}\t{' '.join(c)}\t{int(ac)}\t{int(cc)}\t{int(bc)}"
                   for a, c, ac, cc, bc in zip(r["antecedent"], r["consequent"], r["antecedent_count"],
                                               r["consequent_count"], r["both_count"], strict=True))
    out.write_text("\n".join([*itemsets, *rules]) + "\n", encoding="utf-8")


def _vmhwm_mib() -> float:
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def child(engine: str, data: Path, min_support: float, max_len: int, master: str, out: Path,
          driver_memory: str = "2g") -> dict:
    t0 = time.perf_counter()
    baskets = _load(data)
    from transforms.association import MiningParams, mine

    params = MiningParams(min_support=min_support, min_confidence=0.0, min_lift=0.0, max_len=max_len,
                          max_consequent=1)
    t_load = time.perf_counter() - t0
    extra: dict[str, object] = {}
    if engine == "default":
        t1 = time.perf_counter()
        result = mine(baskets, params)
        t_mine = time.perf_counter() - t1
    elif engine == "spark":
        from transforms.spark_engine import mine_spark, spark_session

        t1 = time.perf_counter()
        session = spark_session(master, app_name="crmwh-bench", driver_memory=driver_memory)
        extra["session_start_s"] = round(time.perf_counter() - t1, 2)
        extra["spark_version"] = session.version
        t2 = time.perf_counter()
        try:
            result = mine_spark(baskets, params, spark=session)
        finally:
            t_mine = time.perf_counter() - t2
            session.stop()
    else:
        raise SystemExit(f"unknown engine {engine}")
    _dump(result, out)
    return {"engine": engine, "baskets": baskets.n_baskets, "min_count": result.min_count,
            "itemsets": len(result.itemsets), "rules": len(result.rules), "load_s": round(t_load, 2),
            "mine_s": round(t_mine, 2), "python_peak_mib": _vmhwm_mib(), **extra}


# --------------------------------------------------------------------------------------------- parent

def tree_rss(proc) -> int:
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def run_child(engine: str, data: Path, min_support: float, max_len: int, master: str, out: Path,
              env: dict[str, str], mem_limit_gb: float, timeout_s: float) -> dict:
    import psutil

    cmd = [sys.executable, __file__, "--child", engine, "--data", str(data), "--min-support", str(min_support),
           "--max-len", str(max_len), "--spark-master", master, "--dump", str(out),
           "--driver-memory", env["CRMWH_MINING__SPARK_DRIVER_MEMORY"]]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ps = psutil.Process(proc.pid)
    peak = 0
    status = "ok"
    loads = [load_before]
    while proc.poll() is None:
        peak = max(peak, tree_rss(ps))
        if peak > mem_limit_gb * 2**30:
            status = f"killed: process tree RSS above {mem_limit_gb} GiB"
        elif time.perf_counter() - started > timeout_s:
            status = f"killed: longer than {timeout_s:.0f} s"
        if status != "ok":
            for p in [*ps.children(recursive=True), ps]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            break
        if int(time.perf_counter() - started) % 15 == 0:
            loads.append(os.getloadavg()[0])
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    loads.append(os.getloadavg()[0])
    base = {"engine": engine, "wall_s": round(wall, 1), "tree_peak_mib": round(peak / 2**20),
            "load_avg_1m": f"{min(loads):.1f}-{max(loads):.1f}"}
    if status == "ok" and proc.returncode != 0:
        tail = stderr.strip().splitlines()[-5:] if stderr.strip() else []
        status = f"failed (exit {proc.returncode}): {' | '.join(tail)}"
    if status != "ok":
        return {**base, "status": status}
    return {**base, **json.loads(stdout.strip().splitlines()[-1]), "status": "ok", "dump": str(out)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--baskets", default="1000000,5000000", help="comma-separated basket counts")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--mean-size", type=float, default=4.6)
    parser.add_argument("--bundles", type=int, default=30)
    parser.add_argument("--min-support", type=float, default=0.0002, help="fraction of baskets, same at every size")
    parser.add_argument("--max-len", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g", help="Spark driver heap (local mode: all of Spark)")
    parser.add_argument("--mem-limit-gb", type=float, default=14.0, help="kill an engine whose tree passes this")
    parser.add_argument("--timeout", type=float, default=2400.0, help="kill an engine running longer (s)")
    parser.add_argument("--json", type=Path, help="write all results here")
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child(args.child, args.data, args.min_support, args.max_len, args.spark_master,
                               args.dump, args.driver_memory)))
        return 0

    from transforms.synthetic_baskets import synthesize_baskets

    env = dict(os.environ)
    env["CRMWH_MINING__SPARK_DRIVER_MEMORY"] = args.driver_memory
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"engines: {args.engines}; spark master {args.spark_master}, driver memory {args.driver_memory}; "
          f"min_support {args.min_support} (fraction), max_len {args.max_len}", flush=True)
    all_results = []
    with tempfile.TemporaryDirectory(prefix="bench_spark_mining_") as tmp:
        workdir = Path(tmp)
        for n in (int(x) for x in args.baskets.split(",")):
            t = time.perf_counter()
            synth = synthesize_baskets(n, n_products=args.products, mean_size=args.mean_size,
                                       n_bundles=args.bundles, seed=2026)
            m = synth.baskets.matrix
            data = workdir / f"baskets-{n}.npz"
            np.savez(data, indptr=m.indptr, indices=m.indices.astype(np.int32),
                     items=np.array(synth.baskets.items, dtype=str))
            print(f"\ndata: synthetic, {m.shape[0]:,} baskets, {m.shape[1]:,} products used, "
                  f"{m.nnz / m.shape[0]:.2f} items per basket, {m.nnz:,} (basket, item) cells "
                  f"(synthesized in {time.perf_counter() - t:.1f} s)", flush=True)
            del synth, m
            results = {}
            for engine in args.engines.split(","):
                r = run_child(engine, data, args.min_support, args.max_len, args.spark_master,
                              workdir / f"{engine}-{n}.tsv", env, args.mem_limit_gb, args.timeout)
                r["n"] = n
                results[engine] = r
                print(json.dumps({k: v for k, v in r.items() if k != "dump"}), flush=True)
            ok = [r for r in results.values() if r["status"] == "ok"]
            if len(ok) >= 2:
                texts = {r["engine"]: Path(r["dump"]).read_text(encoding="utf-8") for r in ok}
                same = len(set(texts.values())) == 1
                for r in ok:
                    r["identical"] = same
                print(f"{n:,} baskets: identical itemsets, rules and integer counts across "
                      f"{', '.join(texts)}: {same}", flush=True)
            all_results.extend(results.values())
            data.unlink()
    print("\n| baskets | engine | wall (process) | of which mining | Spark session start | peak RSS, process tree "
          "| itemsets | rules | identical | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in all_results:
        if r["status"] != "ok":
            print(f"| {r['n']:,} | {r['engine']} | {r['status']} | | | {r['tree_peak_mib']:,} MiB | | | | "
                  f"{r['load_avg_1m']} |")
            continue
        print(f"| {r['n']:,} | {r['engine']} | {r['wall_s']} s | {r['mine_s']} s | "
              f"{r.get('session_start_s', '')}{' s' if 'session_start_s' in r else ''} | {r['tree_peak_mib']:,} MiB "
              f"| {r['itemsets']:,} | {r['rules']:,} | {r.get('identical', '')} | {r['load_avg_1m']} |")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "args": vars(args) | {"json": str(args.json)},
                                         "results": all_results}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
