"""Churn benchmark: speed and memory of the churn step, and its scores against the demo's planted truth.

    .venv/bin/python benchmarks/bench_churn.py --scale medium|large [--seed 42] [--workdir DIR] [--reuse]
    .venv/bin/python benchmarks/bench_churn.py --real [--workdir DIR]      # Online Retail sample, cut 2011-10-01
    .venv/bin/python benchmarks/bench_churn.py --scale small --profile services   # services demo: runs, no crash

Demo (``--scale``):
1. Prepare (not timed): a DuckDB file with the ``core`` star schema from the project's generator
   (``warehouse.demo.generator.build_dataset``), mapped onto the documented core columns with plain
   DuckDB SQL (business ids, trimmed product codes, returns = negative quantities, cancelled orders
   flagged; order lines de-duplicated on their id). This stands in for the ETL path so the benchmark
   measures the churn step alone.
2. Measure (timed, in a fresh process): ``run_churn`` as of the day after the last sale (the end of
   history): features, label, backtest and card, scores, value, segments, marts; wall time per phase and peak RSS.
3. Evaluate (not timed) against the ground truth, whose churn dates run 210 days past the end:
   - the published scores (``marts.customer_retention``) among customers alive and active at the
     scoring date, against true churn in the next 90 days: ROC AUC of the risk score, of days since
     the last purchase and of BG/NBD (lifetimes, fitted on the same date) on the same rows; the
     share of true churners in the top decile by risk over the base rate; the high band's share;
   - the label itself at the card's latest test origin: precision and recall against true churn
     before the end of the label window;
   - the model card's pooled numbers and the segment shares.
Real data (``--real``): the Online Retail sample loaded through ``crmwh ingest --profile online_retail``
into a fresh data directory, ``run_churn`` as of 2011-10-01, then the published risk score and days
since the last purchase against "no purchase after the cut" among the scored (active) customers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import describe_machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the synthetic star schema with planted churn is test support

from churn_support import create_core_tables  # noqa: E402

EPOCH_DAY = dt.date(1970, 1, 1)


def machine() -> str:
    return describe_machine("duckdb", "scikit-learn")


# 1. prepare ---------------------------------------------------------------------------------------
def _frame(cols: dict) -> pl.DataFrame:
    out = {}
    for name, values in cols.items():
        if isinstance(values, np.ndarray):
            if values.dtype == np.int64:
                values = pl.Series(name, values).replace(np.iinfo(np.int64).min, None)
            out[name] = values
        else:
            out[name] = pl.from_arrow(values)
    return pl.DataFrame(out)


def prepare_demo(path: Path, scale: str, seed: int, profile: str = "retail") -> dict[str, str | None]:
    from warehouse.demo.generator import GenerateOptions, build_dataset

    dataset = build_dataset(GenerateOptions(scale=scale, seed=seed, profile=profile))
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists src")
    for name, cols in dataset.tables.items():
        con.register("_t", _frame(cols).to_arrow())
        con.execute(f"create or replace table src.{name} as select * from _t")
        con.unregister("_t")
    for schema in ("analytics", "marts"):
        con.execute(f"create schema if not exists {schema}")
    create_core_tables(con)
    ts = "to_timestamp({})::timestamp"
    day = "(date '1970-01-01' + {}::integer)"
    con.execute(f"""
        insert into core.dim_customer by name
        select c.customer_id as customer_key, c.customer_code as customer_id, 'crm' as source, c.city, c.region,
               c.segment, c.acquisition_channel, c.status, e.employee_code as sales_rep_id,
               {day.format('c.signup_date')} as signup_date, timestamp '2000-01-01' as valid_from,
               null as valid_to, true as is_current, c.is_deleted
        from src.customers as c left join src.employees as e on e.employee_id = c.sales_rep_id""")
    con.execute("""
        insert into core.dim_product by name
        select product_id as product_key, trim(product_code) as product_id, category, unit_price / 100 as unit_price,
               is_merchandise, timestamp '2000-01-01' as valid_from, true as is_current, is_deleted
        from src.products""")
    con.execute(f"""
        insert into core.fct_sales_line by name
        select l.order_line_id::varchar as sales_line_id, o.order_number as order_id, l.line_number,
               {ts.format('o.order_ts')} as order_ts, coalesce(o.customer_id, 0) as customer_key,
               c.customer_code as customer_id, p.product_id as product_key, trim(l.product_code) as product_id,
               l.quantity, l.unit_price / 100 as unit_price, l.discount / 100 as discount,
               l.line_amount / 100 as net_amount, l.quantity < 0 as is_return,
               o.status = 'cancelled' as is_cancelled, coalesce(p.is_merchandise, true) as is_merchandise,
               'crm' as source
        from src.order_lines as l
        join src.orders as o on o.order_id = l.order_id
        left join src.customers as c on c.customer_id = o.customer_id
        left join src.products as p on p.product_code = trim(l.product_code)
        where not l.is_deleted and not o.is_deleted and l.quantity <> 0
        qualify row_number() over (partition by l.order_line_id order by l.updated_at desc) = 1""")
    con.execute(f"""
        insert into core.fct_service_ticket by name
        select t.ticket_number as ticket_id, t.customer_id as customer_key, c.customer_code as customer_id,
               t.ticket_type, t.status, t.channel, {ts.format('t.opened_at')} as opened_at,
               {ts.format('t.first_response_at')} as first_response_at, {ts.format('t.resolved_at')} as resolved_at,
               t.satisfaction::smallint as satisfaction
        from src.service_tickets as t join src.customers as c on c.customer_id = t.customer_id
        where not t.is_deleted""")
    con.execute(f"""
        insert into core.fct_interaction by name
        select i.interaction_id::varchar as interaction_id, i.customer_id as customer_key, c.customer_code as customer_id,
               i.interaction_type, i.channel, {ts.format('i.occurred_at')} as occurred_at, i.outcome
        from src.interactions as i join src.customers as c on c.customer_id = i.customer_id
        where not i.is_deleted""")
    con.execute(f"""
        insert into core.fct_payment by name
        select p.payment_id::varchar as payment_id, o.order_number as order_id, p.customer_id as customer_key,
               c.customer_code as customer_id, {day.format('p.due_date')} as due_date,
               {ts.format('p.paid_at')} as paid_at, p.amount / 100 as amount
        from src.payments as p join src.orders as o on o.order_id = p.order_id
        join src.customers as c on c.customer_id = p.customer_id
        where not p.is_deleted""")
    con.execute("drop schema src cascade")
    con.close()
    return dataset.ground_truth["churn"]["churn_date_by_customer"]


def prepare_synthetic(path: Path, scale: str, seed: int) -> dict[str, str | None]:
    from churn_support import synthesize_core

    n = {"small": 2_000, "medium": 20_000, "large": 200_000}[scale]
    con = duckdb.connect(str(path))
    for schema in ("analytics", "marts"):
        con.execute(f"create schema if not exists {schema}")
    truth = synthesize_core(con, n_customers=n, start=dt.date(2024, 1, 2), end=dt.date(2025, 12, 31),
                            seed=seed, order_rate=1 / 80, ticket_scale=0.25, interaction_rate=0.005)
    con.close()
    return {r["customer_id"]: (r["churn_date"].isoformat() if r["churn_date"] else None)
            for r in truth.iter_rows(named=True)}


# 2. measure (child process) ---------------------------------------------------------------------
def measure(path: Path, as_of: dt.date | None = None) -> dict:
    from warehouse.analytics.churn import run_churn
    from warehouse.foundation.settings import load_settings

    settings = load_settings(environ={}, data_dir=str(path.parent))
    con = duckdb.connect(str(path))
    timings: dict[str, float] = {}
    start = time.perf_counter()
    counts = run_churn(con, settings, as_of, timings=timings)
    seconds = time.perf_counter() - start
    con.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_gib": usage.ru_maxrss / 2**20, "timings": timings, "counts": counts}


def run_child(path: Path, as_of: dt.date | None = None) -> dict:
    load_before = os.getloadavg()[0]
    cmd = [sys.executable, __file__, "--measure", str(path)] + (["--as-of", as_of.isoformat()] if as_of else [])
    child = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if child.returncode != 0:
        print(child.stdout, child.stderr, file=sys.stderr)
        raise SystemExit(child.returncode)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result["load"] = (load_before, os.getloadavg()[0])
    return result


# 3. evaluate --------------------------------------------------------------------------------------
def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if 0 < y.sum() < y.size else None


def _top_decile_ratio(y: np.ndarray, s: np.ndarray) -> float:
    order = np.lexsort((np.arange(s.size), -s))
    top = order[: int(np.ceil(0.1 * s.size))]
    return float(y[top].mean() / y.mean())


def evaluate_planted(path: Path, truth: dict[str, str | None], horizon_days: int = 90) -> dict:
    from transforms.churn_value import PurchaseModel

    con = duckdb.connect(str(path), read_only=True)
    now = con.sql("""select r.customer_id, r.as_of, r.risk_score, r.risk_band, f.*
                     from marts.customer_retention as r
                     join analytics.customer_features as f using (customer_id, as_of)""").pl()
    as_of = now["as_of"][0]
    everyone = con.sql(f"select * from analytics.customer_features where as_of = date '{as_of}'").pl()
    card = con.sql("select * from marts.model_card").pl()
    label_origin = card.filter(pl.col("scope") != "pooled")["test_as_of"].max()
    label_h = int(card["horizon_days"][0])
    labelled = con.sql(f"""select customer_id, churned from analytics.churn_scores
                           where as_of = date '{label_origin}' and is_active and churned is not null""").pl()
    segments = {col: dict(con.execute(f"select {col}, count(*) from marts.customer_retention group by 1").fetchall())
                for col in ("pyramid_tier", "lifecycle_stage", "credit_grade", "risk_band", "retention_offer_source")}
    empty_reasons = con.execute("select count(*) from marts.customer_retention where reason_1 is null").fetchall()[0][0]
    winback = con.execute("select count(*) from marts.customer_winback").fetchall()[0][0]
    con.close()

    def dates(ids: list[str]) -> list[dt.date | None]:
        return [dt.date.fromisoformat(d) if d else None for d in (truth.get(c) for c in ids)]

    churn_at = dates(now["customer_id"].to_list())
    alive = np.array([d is None or d >= as_of for d in churn_at])
    end = as_of + dt.timedelta(days=horizon_days)
    y = np.array([d is not None and as_of <= d < end for d in churn_at])[alive]
    rows = now.filter(pl.Series(alive))
    risk = rows["risk_score"].to_numpy()
    purchase = PurchaseModel(everyone)
    bg_alive = 1 - purchase.p_alive(rows)
    bg_silent = purchase.p_no_purchase(rows, horizon_days)
    out = {
        "as_of": as_of, "alive_active": int(alive.sum()), "scored": now.height, "positives": int(y.sum()),
        "base_rate": float(y.mean()), "auc_risk": _auc(y, risk), "auc_recency": _auc(y, rows["recency_days"].to_numpy()),
        "auc_bgnbd_dropout": _auc(y, bg_alive), "auc_bgnbd_no_purchase": _auc(y, bg_silent),
        "top_decile_ratio": _top_decile_ratio(y, risk),
        "high_band_share": float((rows["risk_band"] == "high").mean()),
        "segments": segments, "empty_reasons": empty_reasons, "winback": winback,
    }
    out["auc_bgnbd"] = max(v for v in (out["auc_bgnbd_dropout"], out["auc_bgnbd_no_purchase"]) if v is not None)
    # the label itself against the planted truth, at the card's latest test origin
    churn_lab = dates(labelled["customer_id"].to_list())
    label = labelled["churned"].to_numpy().astype(bool)
    window_end = label_origin + dt.timedelta(days=label_h)
    truly = np.array([d is not None and d < window_end for d in churn_lab])
    tp = int((label & truly).sum())
    out["label"] = {"origin": label_origin, "horizon_days": label_h, "rows": int(label.size),
                    "label_rate": float(label.mean()), "true_rate": float(truly.mean()),
                    "precision": tp / max(int(label.sum()), 1), "recall": tp / max(int(truly.sum()), 1)}
    pooled = card.filter(pl.col("scope") == "pooled").sort("model")
    out["card"] = pooled.select("model", "role", "test_rows", "test_base_rate", "roc_auc", "roc_auc_ci_low",
                                "roc_auc_ci_high", "roc_auc_diff_vs_published", "roc_auc_diff_ci_low",
                                "roc_auc_diff_ci_high", "brier", "top_decile_lift", "mean_predicted").to_dicts()
    out["card_note"] = card["note"][0]
    return out


def run_real(workdir: Path) -> int:
    """Online Retail through `crmwh ingest`, churn as of 2011-10-01, scores vs no purchase after the cut."""
    cut = dt.date(2011, 10, 1)
    data_dir = workdir / "real"
    if data_dir.exists():
        subprocess.run(["rm", "-rf", str(data_dir)], check=True)
    env = {**os.environ, "CRMWH_DATA_DIR": str(data_dir), "CRMWH_VALIDATION__DATA_DOCS_ENABLED": "false"}
    crmwh = Path(sys.executable).parent / "crmwh"
    t0 = time.perf_counter()
    load = subprocess.run([str(crmwh), "ingest", str(ROOT / "tests" / "fixtures" / "online_retail_sample.csv"),
                           "--profile", "online_retail"], env=env, capture_output=True, text=True, check=False)
    if load.returncode != 0:
        print(load.stdout, load.stderr, file=sys.stderr)
        return load.returncode
    print(f"ingested in {time.perf_counter() - t0:.1f}s: {load.stdout.strip().splitlines()[-1]}")
    path = data_dir / "warehouse" / "crm.duckdb"
    result = run_child(path, cut)
    print(f"run_churn as of {cut}: {result['seconds']:.1f}s, peak RSS {result['peak_rss_gib']:.2f} GiB")
    con = duckdb.connect(str(path), read_only=True)
    rows = con.sql(f"""
        select r.customer_id, r.risk_score, f.recency_days,
               not exists (select 1 from core.fct_sales_line as s where s.customer_id = r.customer_id
                           and s.order_ts >= date '{cut}' and not s.is_return and not coalesce(s.is_cancelled, false))
                   as no_purchase_after
        from marts.customer_retention as r
        join analytics.customer_features as f on f.customer_id = r.customer_id and f.as_of = date '{cut}'""").pl()
    lapsed = con.execute("select count(*) from marts.customer_winback").fetchall()[0][0]
    card = con.sql("select model, role, roc_auc, roc_auc_ci_low, roc_auc_ci_high, horizon_days from marts.model_card "
                   "where scope = 'pooled' order by model").fetchall()
    note = con.execute("select any_value(note) from marts.model_card").fetchall()[0][0]
    con.close()
    y = rows["no_purchase_after"].to_numpy().astype(int)
    auc_risk, auc_recency = _auc(y, rows["risk_score"].to_numpy()), _auc(y, rows["recency_days"].to_numpy())
    print(f"scored (active at the cut) {rows.height}, lapsed (win-back list) {lapsed}; no purchase after the cut "
          f"{y.mean():.3f}")
    print(f"ROC AUC, no purchase after {cut}: published risk {auc_risk:.3f}, days since last purchase "
          f"{auc_recency:.3f}, difference {auc_risk - auc_recency:+.3f}")
    print("card (pooled, observed label): " + "; ".join(
        f"{m} ({role}) {auc:.3f} [{lo:.3f}, {hi:.3f}]" for m, role, auc, lo, hi, _ in card if auc is not None))
    print(f"card note: {note}")
    print("PASS" if auc_risk > auc_recency else "FAIL")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--profile", default="retail", choices=("retail", "services"))
    parser.add_argument("--source", default="demo", choices=("demo", "synthetic"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the DuckDB file here")
    parser.add_argument("--reuse", action="store_true", help="reuse a core file prepared earlier in --workdir")
    parser.add_argument("--real", action="store_true", help="the Online Retail sample instead of the demo")
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.as_of), default=str))
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_churn_"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    if args.real:
        return run_real(workdir)
    path = workdir / f"churn_{args.source}_{args.profile}_{args.scale}_{args.seed}.duckdb"
    truth_path = path.with_suffix(".truth.json")
    t0 = time.perf_counter()
    if args.reuse and path.exists() and truth_path.exists():
        truth = json.loads(truth_path.read_text())
    else:
        path.unlink(missing_ok=True)
        truth = (prepare_demo(path, args.scale, args.seed, args.profile) if args.source == "demo"
                 else prepare_synthetic(path, args.scale, args.seed))
        truth_path.write_text(json.dumps(truth))
    con = duckdb.connect(str(path), read_only=True)
    sizes = {t: con.execute(f"select count(*) from core.{t}").fetchall()[0][0] for t in (
        "dim_customer", "fct_sales_line", "fct_service_ticket", "fct_interaction", "fct_payment")}
    con.close()
    print(f"prepared {args.source} {args.profile} core ({args.scale}) in {time.perf_counter() - t0:.1f}s: {sizes}")
    result = run_child(path)
    print(f"run_churn: {result['seconds']:.1f}s wall, {result['cpu_seconds']:.1f}s CPU (whole child process, "
          f"imports included), peak RSS {result['peak_rss_gib']:.2f} GiB (limits 60 s, 4 GiB); "
          f"1-min load average {result['load'][0]:.1f} before, {result['load'][1]:.1f} after")
    print("phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in result["timings"].items()))
    print(f"rows: {result['counts']}")
    ev = evaluate_planted(path, truth)
    print(f"scored as of {ev['as_of']} (end of history), alive and active: {ev['alive_active']} of {ev['scored']}; "
          f"true churn in the next 90 days: {ev['positives']} ({ev['base_rate']:.4f})")
    print(f"ROC AUC vs true churn: risk {ev['auc_risk']:.3f}, recency {ev['auc_recency']:.3f}, BG/NBD "
          f"{ev['auc_bgnbd']:.3f} (1-P(alive) {ev['auc_bgnbd_dropout']:.3f}, P(no purchase in 90 d) "
          f"{ev['auc_bgnbd_no_purchase']:.3f})")
    print(f"top decile by risk holds {ev['top_decile_ratio']:.2f}x the base rate; high band = "
          f"{ev['high_band_share']:.3f} of the alive, active customers")
    lab = ev["label"]
    print(f"label at {lab['origin']} (H = {lab['horizon_days']} days, {lab['rows']} active customers): label rate "
          f"{lab['label_rate']:.3f}, truly churned by the window's end {lab['true_rate']:.3f}; precision "
          f"{lab['precision']:.3f}, recall {lab['recall']:.3f}")
    for r in ev["card"]:
        print(f"card pooled {r['model']:8s} {r['role']:9s} AUC {r['roc_auc']:.3f} [{r['roc_auc_ci_low']:.3f}, "
              f"{r['roc_auc_ci_high']:.3f}] vs published {r['roc_auc_diff_vs_published']:+.3f} "
              f"[{r['roc_auc_diff_ci_low'] or 0:+.3f}, {r['roc_auc_diff_ci_high'] or 0:+.3f}] Brier "
              f"{r['brier'] if r['brier'] is not None else float('nan'):.3f} lift {r['top_decile_lift']:.2f} "
              f"(rows {r['test_rows']}, base {r['test_base_rate']:.3f}, mean predicted "
              f"{r['mean_predicted'] if r['mean_predicted'] is not None else float('nan'):.3f})")
    print(f"card note: {ev['card_note']}")
    total = ev["scored"]
    for key, counts in ev["segments"].items():
        print(f"{key}: " + ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in sorted(counts.items(), key=str)))
    print(f"win-back list: {ev['winback']}; empty reasons: {ev['empty_reasons']}")
    targets = {
        "time <= 60 s": result["seconds"] <= 60, "memory <= 4 GiB": result["peak_rss_gib"] <= 4,
        "top decile >= 5x": ev["top_decile_ratio"] >= 5, "high band <= 25%": ev["high_band_share"] <= 0.25,
        "AUC >= 0.75": ev["auc_risk"] >= 0.75, "AUC >= recency + 0.05": ev["auc_risk"] >= ev["auc_recency"] + 0.05,
        "AUC >= BG/NBD + 0.02": ev["auc_risk"] >= ev["auc_bgnbd"] + 0.02,
    }
    print("targets: " + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in targets.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
