"""Churn benchmark: features and scores for the large demo in <= 60 s and <= 4 GiB; ROC AUC on planted churn.

    .venv/bin/python benchmarks/bench_churn.py [--scale large] [--source demo|synthetic] [--workdir DIR]

1. Prepare (not timed): a DuckDB file with the ``core`` star schema.
   ``--source demo`` (default) draws the demo CRM with the project's generator
   (``warehouse.demo.generator.build_dataset``, same seed and scale as ``crmwh demo``) and maps its
   tables onto the documented core columns with plain DuckDB SQL (business ids, trimmed product
   codes, returns = negative quantities, cancelled orders flagged; order lines de-duplicated on their
   id). This stands in for the ETL path so the benchmark measures the churn step alone.
   ``--source synthetic`` uses ``warehouse.churn_synth`` instead (same table shapes, its own churn process).
2. Measure (timed, in a fresh process): ``run_churn`` on that file; wall time per phase and peak RSS.
3. Evaluate (not timed): the out-of-time ROC AUC of the model card (observed label), and the ROC AUC of
   the out-of-time model's test-snapshot scores against the planted churn dates of the ground truth:
   (a) planted churn before test + horizon among the customers of the label's population (bought in
   the look-back window), the planted twin of the observed label; (b) new planted churn in
   [test, test + horizon) among customers still alive at the test date.
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

from warehouse.churn_synth import create_core_tables  # noqa: E402

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


def prepare_demo(path: Path, scale: str, seed: int) -> dict[str, str | None]:
    from warehouse.demo.generator import GenerateOptions, build_dataset

    dataset = build_dataset(GenerateOptions(scale=scale, seed=seed))
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
    from warehouse.churn_synth import synthesize_core

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
def measure(path: Path) -> dict:
    from warehouse.churn import run_churn
    from warehouse.settings import load_settings

    settings = load_settings(environ={}, data_dir=str(path.parent))
    con = duckdb.connect(str(path))
    timings: dict[str, float] = {}
    start = time.perf_counter()
    counts = run_churn(con, settings, timings=timings)
    seconds = time.perf_counter() - start
    con.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_gib": usage.ru_maxrss / 2**20, "timings": timings, "counts": counts}


# 3. evaluate --------------------------------------------------------------------------------------
def evaluate_planted(path: Path, truth: dict[str, str | None]) -> dict:
    from sklearn.metrics import roc_auc_score

    from transforms.churn_model import train_model
    from warehouse.churn import snapshot_dates
    from warehouse.settings import load_settings

    settings = load_settings(environ={}, data_dir=str(path.parent))
    con = duckdb.connect(str(path), read_only=True)
    card = con.sql("select * from analytics.model_card order by trained_at desc limit 1").pl().to_dicts()[0]
    dates = snapshot_dates(card["as_of"], settings)
    data = con.sql("select f.*, s.churned, s.is_active from analytics.customer_features as f "
                   "join analytics.churn_scores as s using (customer_id, as_of)").pl()
    con.close()
    train = data.filter(pl.col("as_of").is_in(dates["train"]) & pl.col("churned").is_not_null())
    test_as_of = dates["test"][0]
    test = data.filter((pl.col("as_of") == test_as_of) & pl.col("is_active"))
    model = train_model(train, seed=settings.churn.model_seed, c=settings.churn.model_c)
    scores = model.predict(test)
    horizon_end = test_as_of + dt.timedelta(days=settings.churn.horizon_days)
    churn_at = [truth.get(c) for c in test["customer_id"].to_list()]
    churn_at = [dt.date.fromisoformat(d) if d else None for d in churn_at]
    twin = np.array([d is not None and d < horizon_end for d in churn_at])
    alive = np.array([d is None or d >= test_as_of for d in churn_at])
    new = np.array([d is not None and test_as_of <= d < horizon_end for d in churn_at])
    return {
        "card": {k: card[k] for k in ("as_of", "test_as_of", "train_as_of_first", "train_as_of_last", "train_rows",
                                      "test_rows", "test_base_rate", "roc_auc", "pr_auc", "brier",
                                      "top_decile_lift")},
        "planted_twin": {"rows": int(len(twin)), "positives": int(twin.sum()),
                         "roc_auc": float(roc_auc_score(twin, scores)) if 0 < twin.sum() < len(twin) else None},
        "planted_new": {"rows": int(alive.sum()), "positives": int(new[alive].sum()),
                        "roc_auc": float(roc_auc_score(new[alive], scores[alive]))
                        if 0 < new[alive].sum() < alive.sum() else None},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--source", default="demo", choices=("demo", "synthetic"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the DuckDB file here")
    parser.add_argument("--reuse", action="store_true", help="reuse a core file prepared earlier in --workdir")
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure), default=str))
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_churn_"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"churn_{args.source}_{args.scale}_{args.seed}.duckdb"
    truth_path = path.with_suffix(".truth.json")
    print(f"machine: {machine()}")
    t0 = time.perf_counter()
    if args.reuse and path.exists() and truth_path.exists():
        truth = json.loads(truth_path.read_text())
    else:
        path.unlink(missing_ok=True)
        truth = (prepare_demo if args.source == "demo" else prepare_synthetic)(path, args.scale, args.seed)
        truth_path.write_text(json.dumps(truth))
    con = duckdb.connect(str(path), read_only=True)
    sizes = {t: con.execute(f"select count(*) from core.{t}").fetchall()[0][0] for t in (
        "dim_customer", "fct_sales_line", "fct_service_ticket", "fct_interaction", "fct_payment")}
    orders = con.execute("select count(distinct order_id) from core.fct_sales_line").fetchall()[0][0]
    con.close()
    print(f"prepared {args.source} core ({args.scale}) in {time.perf_counter() - t0:.1f}s: {sizes}, orders {orders}")
    load_before = os.getloadavg()[0]
    child = subprocess.run([sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True,
                           check=False)
    load_after = os.getloadavg()[0]
    if child.returncode != 0:
        print(child.stdout, child.stderr, file=sys.stderr)
        return child.returncode
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"run_churn: {result['seconds']:.1f}s wall, {result['cpu_seconds']:.1f}s CPU (whole child process, "
          f"imports included), peak RSS {result['peak_rss_gib']:.2f} GiB (limits 60 s, 4 GiB); "
          f"1-min load average {load_before:.1f} before, {load_after:.1f} after")
    print("phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in result["timings"].items()))
    print(f"rows: {result['counts']}")
    ev = evaluate_planted(path, truth)
    card = ev["card"]
    print(f"model card: train {card['train_as_of_first']}..{card['train_as_of_last']} ({card['train_rows']} rows), "
          f"test {card['test_as_of']} ({card['test_rows']} rows, churn rate {card['test_base_rate']:.3f}): "
          f"ROC AUC {card['roc_auc']:.3f}, PR AUC {card['pr_auc']:.3f}, Brier {card['brier']:.3f}, "
          f"top-decile lift {card['top_decile_lift']:.2f}")
    twin, new = ev["planted_twin"], ev["planted_new"]
    print(f"planted churn (a) before test+H, label population: ROC AUC {twin['roc_auc']:.3f} "
          f"({twin['positives']} of {twin['rows']})")
    print(f"planted churn (b) new in [test, test+H), alive at test: ROC AUC {new['roc_auc']:.3f} "
          f"({new['positives']} of {new['rows']})")
    ok = result["seconds"] <= 60 and result["peak_rss_gib"] <= 4 and (twin["roc_auc"] or 0) >= 0.75
    print("PASS" if ok else "FAIL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
