"""Cost of the offer filters on rule generation, paired: ``association_rules`` before and after issue 15.

The same frequent itemsets (1,000,000 synthetic baskets shaped like the large demo's, from
``transforms.synthetic_baskets``, support chosen for at least 10,000 itemsets, ``max_len`` 3) are turned
into every single-consequent rule by the current ``transforms.association.association_rules`` (Webb's
improvement and productivity test, lift_lower) and by the version of a base commit (``--base-dir``: a
checkout of that commit's ``transforms/``), alternating, ``--repeat`` times each. The itemset search itself
is unchanged by the filters (``benchmarks/bench_mining.py`` times it against pyfim).

Usage: .venv/bin/python benchmarks/bench_rule_filters.py --base-dir /tmp/base [--baskets 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import describe_machine  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-dir", type=Path, required=True)
    parser.add_argument("--baskets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--min-itemsets", type=int, default=10_000)
    args = parser.parse_args()
    from transforms.association import association_rules, frequent_itemsets
    from transforms.synthetic_baskets import synthesize_baskets

    spec = importlib.util.spec_from_file_location("base_association", args.base_dir / "transforms" / "association.py")
    base = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["base_association"] = base  # dataclasses look their module up there
    spec.loader.exec_module(base)
    print(f"machine: {describe_machine('numpy', 'scipy', 'pandas')}", flush=True)
    baskets = synthesize_baskets(args.baskets, n_products=2000, mean_size=4.6, n_bundles=30, seed=2026).baskets
    count = max(2, int(baskets.n_baskets * 0.01))
    itemsets = frequent_itemsets(baskets, count, 3, "sparse")
    while len(itemsets) < args.min_itemsets and count > 2:
        count = max(2, int(count * 0.7))
        itemsets = frequent_itemsets(baskets, count, 3, "sparse")
    n = baskets.n_baskets
    print(f"{n:,} baskets, support {count}, {len(itemsets):,} itemsets", flush=True)
    times: dict[str, list[float]] = {"base": [], "new": []}
    sizes = {}
    for _ in range(args.repeat):
        for name, fn in (("base", base.association_rules), ("new", association_rules)):
            t = time.perf_counter()
            rules = fn(itemsets, n, 0.0, 0.0, 1)
            times[name].append(time.perf_counter() - t)
            sizes[name] = len(rules)
    ratios = sorted(b / a for a, b in zip(times["base"], times["new"], strict=True))
    for name, ts in times.items():
        print(f"{name}: {sizes[name]:,} rules; seconds {', '.join(f'{x:.3f}' for x in ts)}; "
              f"median {sorted(ts)[len(ts) // 2]:.3f}")
    print(f"new / base per pair: {', '.join(f'{r:.2f}' for r in ratios)} (median {ratios[len(ratios) // 2]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
