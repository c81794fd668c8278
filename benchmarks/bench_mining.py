"""Frequent-itemset mining at scale: our engine against pyfim's C FP-growth and the dense notebook approach.

By default the baskets of the large demo (``warehouse.demo.generator`` at scale large, generated in
memory: about 1,000,000 orders, 5,000,000 lines, a 2,000-product retail catalog, planted bundles),
built from its order lines as the warehouse does; ``--source synthetic`` synthesizes baskets of that
shape instead (``transforms.synthetic_baskets``); ``--source groceries`` reads the public arules
Groceries baskets (``benchmarks/data/groceries.csv``, 9,835 baskets, 169 items; see its README).
``--target-baskets N`` (or ``--repeat-data K``) repeats the baskets read to about N baskets (K copies),
as issue 15 measures Groceries at about 1,000,000 baskets with arules' default ``max_len`` 10. A support
(an absolute basket count) chosen so that at least 10,000 itemsets are frequent, ``max_len`` 3 by default. Each engine runs in its own subprocess, which reports
its own peak RSS (``ru_maxrss``); the parent also kills a run whose RSS passes ``--mem-limit-gb``.

Engines:
  ours-sparse   transforms.association.frequent_itemsets(counter="sparse") on the CSR basket matrix
  ours-mlxtend  the same function with counter="mlxtend" (mlxtend fpgrowth on a Sparse[bool] frame)
  pyfim         fim.fpgrowth(transactions, supp=-count, zmax=3) (Borgelt's C implementation)
  dense         the notebook way: mlxtend TransactionEncoder -> dense bool DataFrame -> mlxtend fpgrowth

Inputs: each engine starts from the same stored CSR arrays and builds its native input (``prepare``):
our engine the CSR matrix (what ``baskets_from_sales_lines`` builds from the warehouse), pyfim a list
of transactions, the dense approach TransactionEncoder's one-hot frame. ``mine`` is the itemset search. Itemset counts (and the itemsets with their
counts) are compared between engines.

Usage: .venv/bin/python benchmarks/bench_mining.py [--baskets 1000000] [--dense-baskets N] [--json out.json]
       .venv/bin/python benchmarks/bench_mining.py --source groceries --target-baskets 1000000 --max-len 10 \
           --engines ours-sparse,pyfim --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
GROCERIES = Path(__file__).resolve().parent / "data" / "groceries.csv"

ENGINES = ("ours-sparse", "pyfim", "ours-mlxtend", "dense")


def machine() -> str:
    return describe_machine("mlxtend", "pyfim", "scipy")


# ---------------------------------------------------------------------------------------------- child

def _load(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    data = np.load(path)
    return data["indptr"], data["indices"], int(data["n_items"])


def _transactions(indptr: np.ndarray, indices: np.ndarray) -> list[list[int]]:
    return [a.tolist() for a in np.split(indices, indptr[1:-1])]


def _dump(found: dict[tuple[int, ...], int], out: Path) -> None:
    with open(out, "w", encoding="utf-8") as f:
        for items, count in sorted(found.items()):
            f.write(f"{' '.join(map(str, items))}\t{count}\n")


def _peak_rss_mib() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss would carry the parent's peak across fork+exec)."""
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _rss_mib() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def child(engine: str, data_path: Path, min_count: int, max_len: int, n_rows: int | None, out: Path) -> dict:
    """Load the baskets in the engine's native input form, then mine; report times and memory."""
    indptr, indices, n_items = _load(data_path)
    if n_rows is not None and n_rows < len(indptr) - 1:
        indptr = indptr[: n_rows + 1]
        indices = indices[: indptr[-1]]
    n = len(indptr) - 1
    import fim
    import pandas as pd
    import scipy.sparse as sp
    from mlxtend.frequent_patterns import fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    from transforms.association import frequent_itemsets
    from transforms.baskets import BasketSet

    extra: dict[str, object] = {}
    t0 = time.perf_counter()
    if engine in ("ours-sparse", "ours-mlxtend"):
        # our native input: the CSR basket matrix (what baskets_from_sales_lines builds)
        matrix = sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, n_items))
        baskets = BasketSet(matrix=matrix, items=np.array([str(i) for i in range(n_items)], dtype=object),
                            basket_ids=np.arange(n))
        del indices
        rss_before = _rss_mib()
        t1 = time.perf_counter()
        frame = frequent_itemsets(baskets, min_count, max_len, "sparse" if engine == "ours-sparse" else "mlxtend")
        found = {tuple(sorted(int(i) for i in s)): int(c) for s, c in zip(frame["itemset"], frame["count"],
                                                                         strict=True)}
        if engine == "ours-sparse":
            # rules on top (every single-consequent rule: metrics, Fisher + BH, redundancy), timed apart
            from transforms.association import association_rules

            t_rules = time.perf_counter()
            rules = association_rules(frame, n, 0.0, 0.0, 1)
            extra = {"rules": len(rules), "rules_s": round(time.perf_counter() - t_rules, 3)}
    elif engine == "pyfim":
        tracts = _transactions(indptr, indices)  # pyfim's input: a list of transactions
        del indices
        rss_before = _rss_mib()
        t1 = time.perf_counter()
        result = fim.fpgrowth(tracts, target="s", supp=-min_count, zmin=1, zmax=max_len, report="a")
        found = {tuple(sorted(s)): int(c) for s, c in result}
    elif engine == "dense":
        tracts = _transactions(indptr, indices)
        del indices
        te = TransactionEncoder()
        onehot = te.fit(tracts).transform(tracts)
        frame = pd.DataFrame(onehot, columns=[str(c) for c in te.columns_])
        del onehot, tracts
        rss_before = _rss_mib()
        t1 = time.perf_counter()
        result = fpgrowth(frame, min_support=(min_count - 0.5) / n, use_colnames=True, max_len=max_len)
        counts = np.rint(result["support"].to_numpy() * n).astype(np.int64)
        found = {tuple(sorted(int(i) for i in s)): int(c) for s, c in zip(result["itemsets"], counts, strict=True)}
    else:
        raise SystemExit(f"unknown engine {engine}")
    t2 = time.perf_counter() - float(extra.get("rules_s", 0.0))  # type: ignore[arg-type]
    _dump(found, out)
    return {"engine": engine, "baskets": n, "min_count": min_count, "prepare_s": round(t1 - t0, 3),
            "mine_s": round(t2 - t1, 3), "itemsets": len(found), "rss_before_mine_mib": rss_before,
            "peak_rss_mib": _peak_rss_mib(), **extra}


# --------------------------------------------------------------------------------------------- parent

def run_child(engine: str, data: Path, min_count: int, max_len: int, n_rows: int | None, workdir: Path,
              mem_limit_gb: float, timeout_s: float) -> dict:
    import psutil

    out = workdir / f"{engine}-{n_rows or 'all'}.tsv"
    cmd = [sys.executable, __file__, "--child", engine, "--data", str(data), "--min-count", str(min_count),
           "--max-len", str(max_len), "--dump", str(out)]
    if n_rows is not None:
        cmd += ["--rows", str(n_rows)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    start = time.monotonic()
    status = "ok"
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss
        except psutil.NoSuchProcess:
            break
        if rss > mem_limit_gb * 2**30:
            status = f"killed: RSS above {mem_limit_gb} GiB"
            proc.kill()
        elif time.monotonic() - start > timeout_s:
            status = f"killed: longer than {timeout_s:.0f} s"
            proc.kill()
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    if status != "ok" or proc.returncode != 0:
        if status == "ok":
            status = f"failed (exit {proc.returncode}): {stderr.strip().splitlines()[-1] if stderr.strip() else ''}"
        return {"engine": engine, "baskets": n_rows, "status": status}
    result = json.loads(stdout.strip().splitlines()[-1])
    result["status"] = "ok"
    result["dump"] = str(out)
    return result


def large_demo_baskets(seed: int = 42) -> tuple[np.ndarray, np.ndarray, int, str]:
    """Baskets of the large demo generated in memory (warehouse.demo.generator, no database), built
    from its order lines the way the warehouse does (trimmed upper-case codes; cancelled orders,
    returns, non-merchandise left out)."""
    import pandas as pd

    from transforms.baskets import baskets_from_sales_lines
    from warehouse.demo.generator import GenerateOptions, build_dataset
    from warehouse.foundation.settings import MiningSettings

    data = build_dataset(GenerateOptions(scale="large", seed=seed))
    lines, orders, products = (data.tables[t] for t in ("order_lines", "orders", "products"))

    def arr(values: object) -> np.ndarray:
        return values.to_numpy(zero_copy_only=False) if hasattr(values, "to_numpy") else np.asarray(values)

    codes = pd.Series(arr(lines["product_code"]), dtype="string").str.strip().str.upper()
    product_codes = pd.Series(arr(products["product_code"]), dtype="string").str.strip().str.upper()
    merch = dict(zip(product_codes, arr(products["is_merchandise"]).astype(bool), strict=True))
    cancelled = arr(orders["order_id"])[pd.Series(arr(orders["status"]), dtype="string").to_numpy() == "cancelled"]
    quantity = arr(lines["quantity"])
    order_id = arr(lines["order_id"])
    frame = pd.DataFrame({"order_id": order_id, "product_id": codes, "quantity": quantity,
                          "is_return": quantity < 0, "is_cancelled": np.isin(order_id, cancelled),
                          "is_merchandise": codes.map(merch).fillna(True).astype(bool)})
    baskets = baskets_from_sales_lines(frame, MiningSettings().non_merchandise_codes)
    m = baskets.matrix
    info = (f"large demo (scale large, seed {seed}): {len(frame):,} order lines, {len(arr(orders['order_id'])):,} "
            f"orders -> {baskets.n_baskets:,} baskets of {baskets.n_items:,} products "
            f"(left out: {', '.join(f'{k} {v:,}' for k, v in baskets.stats.items() if k.endswith('_lines') and k != 'lines_read')})")
    return m.indptr, m.indices.astype(np.int32), baskets.n_items, info


def groceries_baskets(path: Path) -> tuple[np.ndarray, np.ndarray, int, str]:
    """The Groceries baskets (one per line, comma-separated labels) as CSR arrays over sorted labels."""
    lines = path.read_text(encoding="utf-8").splitlines()
    baskets = [sorted(set(line.split(","))) for line in lines if line]
    labels = sorted({item for basket in baskets for item in basket})
    code = {label: i for i, label in enumerate(labels)}
    indices = np.array([code[item] for basket in baskets for item in basket], dtype=np.int32)
    indptr = np.zeros(len(baskets) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in baskets], out=indptr[1:])
    info = (f"Groceries ({path.name}): {len(baskets):,} baskets, {len(labels)} items, {len(indices):,} item "
            f"occurrences")
    return indptr, indices, len(labels), info


def repeat_baskets(indptr: np.ndarray, indices: np.ndarray, copies: int) -> tuple[np.ndarray, np.ndarray]:
    """The same baskets ``copies`` times over, one copy after the other."""
    lengths = np.tile(np.diff(indptr), copies)
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out, np.tile(indices, copies)


def copies_for(n_baskets: int, target: int | None, repeat_data: int | None) -> int:
    """How many copies of the baskets read: ``--repeat-data`` as given, or the nearest to ``--target-baskets``."""
    if repeat_data is not None:
        return max(1, repeat_data)
    if target is not None:
        return max(1, round(target / n_baskets))
    return 1


def calibrate(data: Path, max_len: int, min_itemsets: int) -> tuple[int, int]:
    """Largest absolute support count giving at least ``min_itemsets`` frequent itemsets (our engine)."""
    import scipy.sparse as sp

    from transforms.association import frequent_itemsets
    from transforms.baskets import BasketSet

    indptr, indices, n_items = _load(data)
    n = len(indptr) - 1
    matrix = sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, n_items))
    baskets = BasketSet(matrix=matrix, items=np.array([str(i) for i in range(n_items)], dtype=object),
                        basket_ids=np.arange(n))
    count = max(2, int(n * 0.01))
    found = len(frequent_itemsets(baskets, count, max_len, "sparse"))
    while found < min_itemsets and count > 2:
        count = max(2, int(count * 0.7))
        found = len(frequent_itemsets(baskets, count, max_len, "sparse"))
    return count, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--dump", type=Path)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--min-count", type=int)
    parser.add_argument("--source", choices=("large-demo", "synthetic", "groceries"), default="large-demo",
                        help="baskets of the large demo (generated in memory), synthesized ones, or the public "
                             "Groceries baskets (benchmarks/data/groceries.csv)")
    parser.add_argument("--groceries-file", type=Path, default=GROCERIES)
    parser.add_argument("--target-baskets", type=int, default=None,
                        help="repeat the baskets read to about this many (nearest whole number of copies)")
    parser.add_argument("--repeat-data", type=int, default=None, help="repeat the baskets read this many times")
    parser.add_argument("--baskets", type=int, default=1_000_000, help="synthetic baskets")
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--mean-size", type=float, default=4.6, help="before bundles (about 5 lines with them)")
    parser.add_argument("--bundles", type=int, default=30)
    parser.add_argument("--max-len", type=int, default=3)
    parser.add_argument("--min-itemsets", type=int, default=10_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--dense-baskets", type=int, default=None,
                        help="run the dense approach on the first N baskets only (and extrapolate)")
    parser.add_argument("--mem-limit-gb", type=float, default=12.0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per engine (the best time is kept)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(child(args.child, args.data, args.min_count, args.max_len, args.rows, args.dump)))
        return 0

    from transforms.synthetic_baskets import synthesize_baskets

    print(f"machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_mining_") as tmp:
        workdir = Path(tmp)
        t = time.perf_counter()
        data = workdir / "baskets.npz"
        if args.source in ("large-demo", "groceries"):
            if args.source == "large-demo":
                indptr, indices, n_items, info = large_demo_baskets()
            else:
                indptr, indices, n_items, info = groceries_baskets(args.groceries_file)
            copies = copies_for(len(indptr) - 1, args.target_baskets, args.repeat_data)
            if copies > 1:
                indptr, indices = repeat_baskets(indptr, indices, copies)
                info += f", repeated {copies} times"
            args.baskets = len(indptr) - 1
            np.savez(data, indptr=indptr, indices=indices, n_items=n_items)
            print(f"data: {info}: {args.baskets:,} baskets; {len(indices) / args.baskets:.2f} items per basket "
                  f"(built in {time.perf_counter() - t:.1f} s)", flush=True)
            del indptr, indices
        else:
            synth = synthesize_baskets(args.baskets, n_products=args.products, mean_size=args.mean_size,
                                       n_bundles=args.bundles, seed=2026)
            m = synth.baskets.matrix
            # item names are "P00042": store the integer part so every engine sees the same ints
            col_ids = np.array([int(str(s)[1:]) for s in synth.baskets.items])
            remapped = col_ids[m.indices]
            np.savez(data, indptr=m.indptr, indices=remapped.astype(np.int32), n_items=args.products)
            lines = m.nnz / m.shape[0]
            print(f"data: synthetic, {m.shape[0]:,} baskets, {len(col_ids):,} products used, {lines:.2f} items "
                  f"per basket (synthesized in {time.perf_counter() - t:.1f} s)", flush=True)
            del synth, m
        min_count, found = calibrate(data, args.max_len, args.min_itemsets)
        print(f"support: {min_count} baskets ({min_count / args.baskets:.5f}) -> {found:,} frequent itemsets, "
              f"max_len {args.max_len}")
        results = []
        engines = args.engines.split(",")
        runs: dict[str, list[dict]] = {e: [] for e in engines}
        # round-robin, so every engine meets the same background load on a shared machine
        for _ in range(args.repeat):
            for engine in engines:
                if runs[engine] and runs[engine][-1]["status"] != "ok":
                    continue
                rows = args.dense_baskets if engine == "dense" else None
                count = min_count if rows is None else max(1, round(min_count * rows / args.baskets))
                r = run_child(engine, data, count, args.max_len, rows, workdir, args.mem_limit_gb, args.timeout)
                r["load_avg_1m"] = round(os.getloadavg()[0], 2)
                runs[engine].append(r)
                print(json.dumps(r), flush=True)
        for engine in engines:
            ok = [x for x in runs[engine] if x["status"] == "ok"]
            if not ok:
                results.append(runs[engine][-1])
                continue
            best = min(ok, key=lambda x: x["mine_s"])
            times = sorted(x["mine_s"] for x in ok)
            results.append({**best, "mine_s_runs": times, "mine_s_median": times[len(times) // 2]})
        if "ours-sparse" in runs and "pyfim" in runs and args.repeat > 1:
            ratios = sorted(a["mine_s"] / b["mine_s"] for a, b in zip(runs["ours-sparse"], runs["pyfim"], strict=False)
                            if a["status"] == b["status"] == "ok")
            if ratios:
                print(f"ours-sparse / pyfim per round: {', '.join(f'{r:.2f}' for r in ratios)} "
                      f"(median {ratios[len(ratios) // 2]:.2f})")
        by = {r["engine"]: r for r in results}
        if "ours-sparse" in by and "pyfim" in by and by["pyfim"]["status"] == "ok" and by["ours-sparse"]["status"] == "ok":
            same = Path(by["ours-sparse"]["dump"]).read_text() == Path(by["pyfim"]["dump"]).read_text()
            print(f"ours-sparse vs pyfim: identical itemsets and counts: {same}; "
                  f"time ratio {by['ours-sparse']['mine_s'] / by['pyfim']['mine_s']:.2f}x")
        for other in ("ours-mlxtend", "dense"):
            if other in by and by[other].get("status") == "ok" and "ours-sparse" in by and \
                    by[other]["baskets"] == by["ours-sparse"]["baskets"]:
                same = Path(by["ours-sparse"]["dump"]).read_text() == Path(by[other]["dump"]).read_text()
                print(f"ours-sparse vs {other}: identical itemsets and counts: {same}")
        if args.json:
            args.json.write_text(json.dumps({"machine": machine(), "baskets": args.baskets, "min_count": min_count,
                                             "itemsets": found, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
