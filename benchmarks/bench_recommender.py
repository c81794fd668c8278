"""Cross-sell offers against their baselines: the backtest behind marts.recommender_card, on the demo and on real data.

Two runs, each in a fresh data directory, through the product's own commands:

  demo  `crmwh demo generate --scale medium --seed 11`, `crmwh run`, then
        `crmwh evaluate --as-of 2025-11-01 --holdout-days 60` (train to the end of 2025-11-01, score the
        next 60 days), plus the planted-truth checks: each planted next-purchase sequence's rank among its
        antecedent's sequence partners, and the planted bundles' rules' ranks among the offerable rules
        (by rule_rank, i.e. lift_lower)
  real  `crmwh ingest tests/fixtures/online_retail_sample.csv --profile online_retail`, `crmwh mine --as-of
        2011-10-01` (the support that adapts), then `crmwh evaluate --as-of 2011-10-01 --holdout-days 60`

Targets (issue 15): demo hit rate@5 >= 1.3x popularity's, every active customer covered, top 3 products
<= 20% of offers; real data hit rate@5 >= popularity's, >= 90% of active customers covered.

Usage: .venv/bin/python benchmarks/bench_recommender.py [--only demo|real] [--workdir DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import describe_machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CRMWH = [sys.executable, "-m", "warehouse.cli"]


def _run(cmd: list[str], env: dict[str, str]) -> tuple[str, float]:
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr, time.perf_counter() - t


def _card(data_dir: Path) -> list[dict]:
    import duckdb

    con = duckdb.connect(str(data_dir / "warehouse" / "crm.duckdb"), read_only=True)
    try:
        frame = con.execute("select * from marts.recommender_card order by is_published desc, recommender").df()
    finally:
        con.close()
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def _planted(data_dir: Path) -> dict:
    """Ranks of the planted sequences (sequence signal) and bundles (rules by lift_lower) as of the cut."""
    import datetime as dt

    import duckdb
    import numpy as np

    from warehouse.analytics.recommender import _signals, read_history
    from warehouse.foundation.settings import load_settings

    truth = json.loads((data_dir / "source" / "ground_truth.json").read_text(encoding="utf-8"))
    settings = load_settings(data_dir=data_dir)
    end = dt.datetime(2025, 11, 2)
    con = duckdb.connect(str(data_dir / "warehouse" / "crm.duckdb"), read_only=True)
    try:
        history = read_history(con, settings, end)
        rules = con.execute("select antecedent, consequent, rule_rank, is_offerable from marts.cross_sell_rules "
                            "where segment_dimension = 'all' and window_name = 'all' order by rule_rank").fetchall()
    finally:
        con.close()
    import pandas as pd

    signals = _signals(history, settings, np.datetime64(end, "us"), pd.DataFrame(
        columns=["antecedent", "consequent", "confidence", "rule_id"]))
    seq = signals.sequence.tocsr()
    pos = signals.item_pos
    sequences = []
    for s in truth["sequences"]:
        a, b = pos.get(s["antecedent_code"]), pos.get(s["consequent_code"])
        row = seq[a].toarray().ravel() if a is not None else np.zeros(1)
        rank = int((row > row[b]).sum()) + 1 if b is not None and row[b] > 0 else None
        sequences.append({"antecedent": s["antecedent_code"], "consequent": s["consequent_code"],
                          "conditional_share": round(float(row[b]), 3) if b is not None else None,
                          "rank_among_partners": rank})
    bundles = [set(b["product_codes"]) for b in truth["bundles"]]
    offer = [set(a) | set(c) for a, c, _, ok in rules if ok]  # offerable rules in rule_rank order
    inside = [any(items <= b for b in bundles) for items in offer]
    last_bundle = max((k + 1 for k, i in enumerate(inside) if i), default=0)
    best = [next((k + 1 for k, items in enumerate(offer) if items <= b), None) for b in bundles]
    return {"sequences": sequences, "offerable_rules": len(offer), "bundle_rules": sum(inside),
            "bundle_best_offerable_rank": best, "last_bundle_rule_offerable_rank": last_bundle,
            "other_rules_above_last_bundle_rule": sum(1 for i in inside[:last_bundle] if not i)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("demo", "real"))
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--planted-only", type=Path, help="only the planted-truth checks on this demo data directory")
    args = parser.parse_args()
    if args.planted_only:
        print(json.dumps(_planted(args.planted_only), indent=1))
        return 0
    print(f"machine: {describe_machine('scikit-learn', 'scipy', 'duckdb')}", flush=True)
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench_recommender_") as tmp:
        base = args.workdir or Path(tmp)
        for name in ("demo", "real"):
            if args.only and args.only != name:
                continue
            data_dir = base / name
            env = {**os.environ, "CRMWH_DATA_DIR": str(data_dir), "CRMWH_VALIDATION__DATA_DOCS_ENABLED": "false"}
            steps = []
            if name == "demo":
                cmds = [["demo", "generate", "--scale", "medium", "--seed", "11", "--force"], ["run"],
                        ["mine", "--as-of", "2025-11-01"],
                        ["evaluate", "--as-of", "2025-11-01", "--holdout-days", "60"]]
            else:
                cmds = [["ingest", "tests/fixtures/online_retail_sample.csv", "--profile", "online_retail"],
                        ["mine", "--as-of", "2011-10-01"],
                        ["evaluate", "--as-of", "2011-10-01", "--holdout-days", "60"]]
            for cmd in cmds:
                text, seconds = _run(CRMWH + cmd, env)
                steps.append({"command": "crmwh " + " ".join(cmd), "seconds": round(seconds, 1)})
                print(f"[{name}] crmwh {' '.join(cmd)} ({seconds:.1f} s)\n{text.strip()}", flush=True)
            out[name] = {"steps": steps, "card": _card(data_dir)}
            if name == "demo":
                out[name]["planted"] = _planted(data_dir)
                print(json.dumps(out[name]["planted"], indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
