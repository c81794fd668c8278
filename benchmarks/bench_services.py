"""Services benchmark: does the warehouse recover what the services demo planted?

    .venv/bin/python benchmarks/bench_services.py [--scale medium] [--seed 42] [--workdir DIR] [--json FILE]

1. Generate the services demo source (``crmwh demo generate --profile services``) in the work directory.
2. Load it through the real pipeline (``warehouse.ops.pipeline.run``: ADBC extraction, staging, validation with
   quarantine, core facts; Great Expectations Data Docs off), then build the services marts
   (``build_services_marts``) and the week's care actions at the analytics as-of date. Wall time per step.
3. Evaluate against the ground truth (never read by the pipeline):
   - per-channel conversion: ``marts.sales_funnel``'s won / leads over the lead cohorts whose outcome is
     settled (created at least ``--settled-days`` before the clock) against the planted lead -> won rate;
   - renewals: ``marts.contract_renewals`` (contracts ending in the next 90 days, scored by the model) against
     the planted renewal outcomes after the clock (``services.renewal.outcome_by_contract``): ROC AUC of the
     model's non-renewal risk and of the baseline "days late on the last filing" alone on the same rows,
     with bootstrap intervals and the paired difference; the planted probability's AUC is the ceiling;
   - the model card's own out-of-time test (observed outcomes in the history);
   - slower reps: median days to close of the planted slow reps' won opportunities over the others'.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import describe_machine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="medium", choices=("small", "medium", "large"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", default=None, help="data directory to use (default: a new temporary one)")
    parser.add_argument("--settled-days", type=int, default=120,
                        help="lead cohorts created at least this many days before the clock count as settled")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import os

    data_dir = Path(args.workdir or tempfile.mkdtemp(prefix="crmwh-bench-services-"))
    os.environ["CRMWH_DATA_DIR"] = str(data_dir)
    os.environ["CRMWH_VALIDATION__DATA_DOCS_ENABLED"] = "false"
    from warehouse.demo.generator import GenerateOptions, generate
    from warehouse.demo.reference_rates import declare_demo_rates
    from warehouse.foundation.db import warehouse_writer
    from warehouse.foundation.settings import get_settings
    from warehouse.ops.analytics_pipeline import resolve_as_of
    from warehouse.ops.pipeline import Interval, run
    from warehouse.ops.services_pipeline import build_services_marts, care_actions, resolve_week

    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_dirs()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    result = generate(settings.source_url, settings.ground_truth_path,
                      GenerateOptions(scale=args.scale, seed=args.seed, profile="services"), force=True)
    declare_demo_rates(settings, "services")  # as `crmwh demo generate` does: CNY lines convert
    timings["generate"] = time.perf_counter() - t
    truth = json.loads(settings.ground_truth_path.read_text(encoding="utf-8"))["services"]
    t = time.perf_counter()
    summary = run(settings, Interval.parse(None, result.state.business_clock))
    timings["load (extract, stage, validate, core)"] = time.perf_counter() - t
    as_of = resolve_as_of(settings)
    t = time.perf_counter()
    marts = build_services_marts(settings, as_of)
    timings["services marts"] = time.perf_counter() - t
    t = time.perf_counter()
    care = care_actions(settings, resolve_week(settings, None, as_of))
    timings["care scan"] = time.perf_counter() - t

    clock = result.state.business_clock
    settled = (clock - dt.timedelta(days=args.settled_days)).date()
    with warehouse_writer(settings) as con:
        funnel = con.execute("""
            select channel, sum(leads), sum(opportunities), sum(won) from marts.sales_funnel
            where month + interval 1 month <= ?::date group by 1 order by 1""", [settled]).fetchall()
        renewals = con.execute("select contract_id, non_renewal_risk, days_late_last_filing from marts.contract_renewals"
                               ).fetchall()
        card = con.execute("select scorer, roc_auc, roc_auc_ci_low, roc_auc_ci_high, test_rows, test_not_renewed, "
                           "train_rows from marts.renewal_model_card order by role desc").fetchall()
        stage_days = con.execute("select owner_rep_id, days_to_close from core.fct_opportunity where is_won").fetchall()
    conversion = {}
    for channel, leads, opps, won in funnel:
        planted = truth["funnel"]["conversion_by_channel"].get(channel)
        if planted is None:
            continue
        observed = float(won) / float(leads)
        conversion[channel] = {
            "leads": int(leads), "won": int(won), "observed_lead_to_won": round(observed, 4),
            "planted_lead_to_won": planted["lead_to_won"],
            "difference_points": round(100 * (observed - planted["lead_to_won"]), 2),
            "observed_lead_to_opportunity": round(float(opps) / float(leads), 4),
            "planted_lead_to_opportunity": planted["lead_to_opportunity"]}

    from transforms.evaluation import bootstrap, paired_difference, roc_auc

    outcomes = truth["renewal"]["outcome_by_contract"]
    rows = [(outcomes[c]["renewed"], r, d, outcomes[c]["p_non_renewal"]) for c, r, d in renewals
            if c in outcomes and r is not None]
    y = np.array([not renewed for renewed, *_ in rows], dtype=bool)
    risk = np.array([r for _, r, _, _ in rows], dtype=float)
    base = np.array([d or 0 for _, _, d, _ in rows], dtype=float)
    ceiling = np.array([p for *_, p in rows], dtype=float)
    model_auc = bootstrap(roc_auc, y, risk)
    base_auc = bootstrap(roc_auc, y, base)
    diff = paired_difference(roc_auc, y, risk, base)
    slow = set(truth["funnel"]["slow_reps"])
    slow_days = [d for rep, d in stage_days if rep in slow and d is not None]
    other_days = [d for rep, d in stage_days if rep not in slow and d is not None]
    out = {
        "command": "benchmarks/bench_services.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": describe_machine("duckdb", "scikit-learn", "apache-airflow"),
        "scale": args.scale, "seed": args.seed, "as_of": as_of.isoformat(), "data_dir": str(data_dir),
        "source_rows": result.counts, "rows_read": summary.rows_read, "rows_loaded": summary.rows_loaded,
        "rows_quarantined": summary.rows_quarantined,
        "timings_s": {k: round(v, 1) for k, v in timings.items()}, "marts": marts, "care": care,
        "conversion_by_channel": conversion,
        "max_abs_conversion_difference_points": max(abs(v["difference_points"]) for v in conversion.values()),
        "renewals_planted_future": {
            "contracts": int(len(y)), "not_renewed": int(y.sum()),
            "model_roc_auc": model_auc.value, "model_ci": [model_auc.ci_low, model_auc.ci_high],
            "baseline_days_late_last_filing_roc_auc": base_auc.value, "baseline_ci": [base_auc.ci_low, base_auc.ci_high],
            "model_minus_baseline": diff.value, "difference_ci": [diff.ci_low, diff.ci_high],
            "planted_probability_roc_auc_ceiling": roc_auc(y, ceiling)},
        "renewal_model_card": [dict(zip(("scorer", "roc_auc", "ci_low", "ci_high", "test_rows", "test_not_renewed",
                                         "train_rows"), r, strict=True)) for r in card],
        "slow_reps": {"planted_factor": truth["funnel"]["slow_rep_factor"],
                      "median_days_to_win_slow": float(np.median(slow_days)) if slow_days else None,
                      "median_days_to_win_others": float(np.median(other_days)) if other_days else None},
    }
    if slow_days and other_days:
        out["slow_reps"]["observed_ratio"] = round(float(np.median(slow_days) / np.median(other_days)), 3)
    text = json.dumps(out, indent=1, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
