"""Publishing at large-demo scale: publish time and memory, file sizes, reader latency during publishes.

    .venv/bin/python benchmarks/bench_publish.py [--customers 200000] [--recs-per-customer 5] [--publishes 3]

1. Prepare (not timed): a working warehouse with marts shaped like the real ones (column names and
   types of the mining and churn marts, with comments) at the given scale: one retention row per
   customer, N recommendations per customer, 50,000 rules, monthly cohorts over 5 years and monthly
   churn by segment.
2. Measure, in fresh subprocesses: ``publish()`` wall time by phase (PII scan, copy + dictionary +
   manifest, Parquet export, fsync + swap) and the publisher's peak RSS; while the publishes run, a
   reader process opens ``published/marts.duckdb`` read-only in a loop and checks every table's row
   count against the manifest (reports reads, errors and read latency percentiles).
3. ``crmwh report`` on the published version (wall time, HTML size) and a ``crmwh query`` round trip.

Prints the machine and the numbers; BENCHMARKS.md records a run with its command.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import describe_machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MARTS = {
    "customer_retention": """
        select 'C' || lpad(cast(i as varchar), 7, '0') as customer_id, date '2026-01-01' as as_of,
               i % 3 <> 0 as is_active, round(hash(i) % 1000 / 1000.0, 3) as risk_score,
               (['low', 'medium', 'high'])[i % 3 + 1] as risk_band,
               'no purchase for ' || (i % 9 + 1) || 'x the usual gap' as reason_1,
               (i % 5) || ' complaints in 90 days' as reason_2, null::varchar as reason_3,
               (['Champions', 'Loyal', 'Potential Loyalist', 'New', 'At Risk', 'Can''t Lose', 'Hibernating',
                 'Lost'])[i % 8 + 1] as rfm_segment,
               cast(i % 5 + 1 as varchar) || cast(i % 4 + 1 as varchar) || cast(i % 3 + 1 as varchar) as rfm_code,
               (['A', 'B', 'C'])[i % 3 + 1] as abc_class,
               (['platinum', 'gold', 'iron', 'lead'])[i % 4 + 1] as pyramid_tier,
               (['exploration', 'formation', 'stability', 'decline'])[i % 4 + 1] as lifecycle_stage,
               (['A', 'B', 'C', 'D'])[i % 4 + 1] as credit_grade, 'region ' || (i % 12) as region,
               (['web', 'store', 'referral', 'campaign'])[i % 4 + 1] as acquisition_channel,
               'E' || lpad(cast(i % 300 as varchar), 4, '0') as assigned_rep_id,
               'call within a week' as recommended_action, 'P' || lpad(cast(i % 2000 as varchar), 5, '0') as retention_offer,
               'bought P00012: 41% of such baskets add it' as retention_offer_reason
        from range({customers}) t(i)""",
    "cross_sell_recommendations": """
        select 'C' || lpad(cast(i // {recs} as varchar), 7, '0') as customer_id, i % {recs} + 1 as recommendation_rank,
               'P' || lpad(cast(hash(i) % 2000 as varchar), 5, '0') as product_id,
               'Product ' || (hash(i) % 2000) as product_name, round(0.2 + (i % 70) / 100.0, 3) as score,
               round(1 + (i % 40) / 10.0, 3) as lift, 'R' || (i % 50000) as rule_id,
               'bought Product ' || (i % 2000) || ': ' || (i % 60 + 20) || '% of such baskets add it' as reason,
               timestamp '2026-01-01' as as_of_end
        from range({customers} * {recs}) t(i)""",
    "cross_sell_rules": """
        select 'R' || i as rule_id, 'all' as segment_dimension, 'all' as segment_value, 'all' as window_name,
               ['P' || lpad(cast(i % 2000 as varchar), 5, '0')] as antecedent,
               ['P' || lpad(cast((i * 7) % 2000 as varchar), 5, '0')] as consequent,
               ['Product ' || (i % 2000)] as antecedent_names, ['Product ' || ((i * 7) % 2000)] as consequent_names,
               0.001 + (i % 97) / 10000.0 as support, 0.2 + (i % 80) / 100.0 as confidence,
               1 + (i % 50) / 10.0 as lift, (i % 900) + 100 as both_count
        from range(50000) t(i)""",
    "cohort_retention": """
        select date '2021-01-01' + to_months(c) as cohort_month, m as months_since_first_purchase,
               1000 as cohort_size, 1000 - 12 * m as customers_active, round(1 - 0.012 * m, 4) as retention_rate,
               50000.0 - 500 * m as revenue, round(1 - 0.01 * m, 4) as revenue_retained
        from range(60) a(c), range(60) b(m) where c + m < 60""",
    "churn_by_segment": """
        select date '2021-01-01' + to_months(m) as month, d as dimension, 'value ' || v as dimension_value,
               1000 as customers_active, 50 + v as customers_churned, round((50 + v) / 1000.0, 4) as churn_rate
        from range(60) a(m), unnest(['all', 'rfm_segment', 'pyramid_tier', 'abc_class', 'lifecycle_stage',
                                     'customer_segment', 'region', 'acquisition_channel']) b(d), range(8) c(v)""",
}


def machine() -> str:
    return describe_machine("duckdb", "pyarrow")


def prepare(data_dir: Path, customers: int, recs: int) -> dict[str, int]:
    import duckdb

    from warehouse.foundation.db import migrate
    from warehouse.foundation.settings import load_settings

    settings = load_settings(environ={}, data_dir=str(data_dir))
    settings.ensure_dirs()
    con = duckdb.connect(str(settings.warehouse_path))
    migrate(con)
    counts = {}
    for table, sql in MARTS.items():
        con.execute(f"create or replace table marts.{table} as {sql.format(customers=customers, recs=recs)}")
        con.execute(f"comment on table marts.{table} is 'grain: one row per benchmark row; {table} at scale'")
        for (column,) in con.execute("select column_name from duckdb_columns() where schema_name = 'marts' "
                                     "and table_name = ?", [table]).fetchall():
            con.execute(f"comment on column marts.{table}.{column} is 'benchmark column {column}'")
        counts[table] = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
    con.close()
    return counts


def child_publish(data_dir: str, run_id: str) -> None:
    """One publish in this (fresh) process; prints timings and peak RSS as JSON."""
    import warehouse.serve.publish.publisher as pub  # the entry point: patching its names times the phases
    from warehouse.foundation.db import warehouse_writer
    from warehouse.foundation.settings import load_settings
    from warehouse.serve.publish import current_version_dir

    settings = load_settings(environ={}, data_dir=data_dir)
    phases: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    pub.check_pii = timed("pii_scan", pub.check_pii)
    pub._build_version = timed("build_version (incl. pii, copy, parquet, fsync)", pub._build_version)
    pub._swap_current = timed("swap", pub._swap_current)
    pub.prune_versions = timed("prune", pub.prune_versions)
    with warehouse_writer(settings) as con:
        start = time.perf_counter()
        manifest = pub.publish(settings, run_id, None, "passed", con=con)
        total = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    version_dir = current_version_dir(settings)
    db_mb = (version_dir / "marts.duckdb").stat().st_size / 2**20
    pq_mb = sum(p.stat().st_size for p in (version_dir / "parquet").iterdir()) / 2**20
    print(json.dumps({"total_s": round(total, 2), "phases_s": {k: round(v, 2) for k, v in phases.items()},
                      "peak_rss_mb": round(peak_mb), "duckdb_mb": round(db_mb, 1), "parquet_mb": round(pq_mb, 1),
                      "rows": sum(manifest.row_counts.values())}))


def child_reader(published: str, stop: str, out: str) -> None:
    import duckdb

    latencies, errors, reads, runs = [], [], 0, set()
    while not Path(stop).exists():
        start = time.perf_counter()
        try:
            con = duckdb.connect(published, read_only=True)
            try:
                manifest = con.execute("select run_id, table_name, row_count from publish_manifest").fetchall()
                for run_id, table, n in manifest:
                    runs.add(run_id)
                    (actual,) = con.execute(f'select count(*) from "{table}"').fetchone()
                    if actual != n:
                        errors.append(f"{run_id} {table}: {actual} != {n}")
                if len({r[0] for r in manifest}) != 1:
                    errors.append("mixed manifest")
            finally:
                con.close()
        except Exception as exc:  # noqa: BLE001 - counted
            errors.append(f"{type(exc).__name__}: {exc}")
        latencies.append(time.perf_counter() - start)
        reads += 1
    Path(out).write_text(json.dumps({"reads": reads, "errors": errors[:10], "n_errors": len(errors),
                                     "runs_seen": sorted(runs), "latencies": latencies}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--recs-per-customer", type=int, default=5)
    parser.add_argument("--publishes", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        (child_publish if kind == "publish" else child_reader)(*rest)
        return 0

    print(machine())
    work = args.workdir or Path(tempfile.mkdtemp(prefix="crmwh-bench-publish-"))
    data_dir = work / "data"
    start = time.perf_counter()
    counts = prepare(data_dir, args.customers, args.recs_per_customer)
    print(f"prepared marts in {time.perf_counter() - start:.1f}s: {counts}")
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = json.loads(subprocess.run([*me, "publish", str(data_dir), "bench-0"], check=True, capture_output=True,
                                      text=True, env=env).stdout)
    print(f"publish 1 (no reader): {first}")
    stop, out = work / "stop", work / "reader.json"
    reader = subprocess.Popen([*me, "reader", str(data_dir / "published" / "marts.duckdb"), str(stop), str(out)],
                              env=env)
    try:
        for i in range(1, args.publishes + 1):
            result = json.loads(subprocess.run([*me, "publish", str(data_dir), f"bench-{i}"], check=True,
                                               capture_output=True, text=True, env=env).stdout)
            print(f"publish {i + 1} (reader running): {result}")
    finally:
        stop.touch()
        reader.wait(timeout=120)
    stats = json.loads(out.read_text())
    lat = sorted(stats.pop("latencies"))
    if lat:
        stats["read_latency_ms"] = {"p50": round(1000 * statistics.median(lat), 1),
                                    "p95": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1),
                                    "max": round(1000 * lat[-1], 1)}
    print(f"reader during {args.publishes} publishes: {stats}")

    crmwh = str(Path(sys.executable).with_name("crmwh"))
    cli_env = {**env, "CRMWH_DATA_DIR": str(data_dir)}
    start = time.perf_counter()
    report = subprocess.run([crmwh, "report"], check=True, capture_output=True, text=True, env=cli_env).stdout.strip()
    print(f"crmwh report: {time.perf_counter() - start:.2f}s, {Path(report).stat().st_size / 2**20:.1f} MiB")
    start = time.perf_counter()
    subprocess.run([crmwh, "query", "select rfm_segment, count(*) from customer_retention group by 1"], check=True,
                   capture_output=True, text=True, env=cli_env)
    print(f"crmwh query (group by over {counts['customer_retention']} rows): {time.perf_counter() - start:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
