"""``crmwh demo run`` (what ``make demo`` calls): source, then the DAGs through real Airflow, then a summary.

1. Generate the demo source unless it already exists (the existing one is kept as it is).
2. Prepare the embedded Airflow (metadata DB, pool) and run ``airflow dags test crm_ingest DATE``, then
   ``crm_analytics`` and ``crm_care`` when those DAGs exist; DATE defaults to the source's business clock (its last
   second, e.g. ``2025-12-31T23:59:59``: the DAGs extract ``updated_at <=`` the logical date).
3. Print what was built and where: the source, row counts per table of every warehouse schema (the
   DuckDB file opened read-only), the published file and its tables, the Data Docs and the report.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from warehouse.demo.config import DemoError, parse_date
from warehouse.demo.generator import generate, options_from_settings, source_exists
from warehouse.demo.reference_rates import declare_demo_rates
from warehouse.demo.state import read_state
from warehouse.foundation.settings import Settings
from warehouse.ops import airflow_env

INGEST_DAG = "crm_ingest"
ANALYTICS_DAG = "crm_analytics"
CARE_DAG = "crm_care"  # the weekly care scan (services marts, care actions), run after the analytics
TAIL_LINES = 25


@dataclass
class DemoRunSummary:
    source_url: str
    generated: bool
    run_date: str
    dags_run: list[str] = field(default_factory=list)
    warehouse_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    published_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def dags_folder(settings: Settings) -> Path:
    return Path(airflow_env.airflow_environment(settings)["AIRFLOW__CORE__DAGS_FOLDER"])


def dag_defined(folder: Path, dag_id: str) -> bool:
    """True when a DAG file in ``folder`` declares ``dag_id`` (read as text: nothing is imported)."""
    if not folder.is_dir():
        return False
    pattern = re.compile(r"dag_id\s*=\s*[\"']" + re.escape(dag_id) + r"[\"']")
    for path in sorted(folder.glob("*.py")):
        if path.stem == dag_id:
            return True
        try:
            if pattern.search(path.read_text(encoding="utf-8", errors="replace")):
                return True
        except OSError:
            continue
    return False


def duckdb_table_counts(path: Path) -> dict[str, dict[str, int]]:
    """Row counts of every base table per schema of a DuckDB file, opened read-only."""
    import duckdb

    counts: dict[str, dict[str, int]] = {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and table_catalog = current_database() "
            "order by table_schema, table_name").fetchall()
        for schema_name, table in tables:
            row = con.execute(f'select count(*) from "{schema_name}"."{table}"').fetchone()  # noqa: S608
            counts.setdefault(schema_name, {})[table] = int(row[0]) if row else 0
    finally:
        con.close()
    return counts


def _run_dag(settings: Settings, dag_id: str, run_date: str, say: Callable[[str], None]) -> Path:
    """``airflow dags test`` with its (long) output kept in a log file; the tail is shown on failure."""
    home = Path(airflow_env.airflow_environment(settings)["AIRFLOW_HOME"])
    log = home / "logs" / "demo" / f"{dag_id}_{run_date.replace(':', '')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"demo: airflow dags test {dag_id} {run_date} (output: {log})")
    started = time.perf_counter()
    result = airflow_env.run_airflow(settings, ["dags", "test", dag_id, run_date], check=False, capture=True)
    log.write_text((result.stdout or "") + (result.stderr or ""), encoding="utf-8")
    if result.returncode != 0:
        lines = log.read_text(encoding="utf-8").splitlines()
        say(f"demo: the last lines of {log}:")
        for line in lines[-TAIL_LINES:]:
            say(f"  | {line[:300]}")
        raise DemoError(f"DAG {dag_id} failed for {run_date} (airflow exit code {result.returncode}); "
                        f"see {log} and the task logs under {home / 'logs'}")
    say(f"demo: {dag_id} succeeded in {time.perf_counter() - started:.0f}s")
    return log


def run_demo(settings: Settings, *, scale: str | None = None, seed: int | None = None,
             profile: str | None = None, date: str | None = None,
             say: Callable[[str], None] = print) -> DemoRunSummary:
    """Make the demo source exist, run the DAGs through Airflow and describe what was built."""
    requested = parse_date(date).isoformat() if date else None  # a bad date fails before any work
    url = settings.source_url
    safe_url = sa.engine.make_url(url).render_as_string(hide_password=True)
    generated = False
    if source_exists(url):
        say(f"demo: using the existing source {safe_url} (`crmwh demo generate --force` replaces it)")
    else:
        opts = options_from_settings(settings, scale=scale, seed=seed, profile=profile)
        say(f"demo: generating the {opts.profile} source, scale {opts.scale}, seed {opts.seed} -> {safe_url}")
        result = generate(url, settings.ground_truth_path, opts)
        generated = True
        rates = declare_demo_rates(settings, opts.profile)
        if rates is not None:
            say(f"demo: exchange rates declared in {rates} (the {opts.profile} demo's currency into "
                f"{settings.currency.reporting_currency})")
        say(f"demo: generated in {result.seconds:.1f}s: "
            + ", ".join(f"{k} {v:,}" for k, v in result.counts.items()))
    engine = sa.create_engine(url)
    try:
        state = read_state(engine)
    finally:
        engine.dispose()
    # the DAGs treat the logical date as the extraction cut-off (updated_at <= it): by default run at
    # the business clock itself so the whole last business day is included
    run_date = requested or state.business_clock.isoformat(timespec="seconds")
    summary = DemoRunSummary(source_url=safe_url, generated=generated, run_date=run_date)

    folder = dags_folder(settings)
    if not dag_defined(folder, INGEST_DAG):
        raise DemoError(f"DAG {INGEST_DAG} is missing from {folder}: the source is ready at {safe_url}, "
                        "but there is no pipeline to run yet")
    say("demo: preparing the embedded Airflow (metadata database and warehouse pool)")
    airflow_env.ensure_airflow_ready(settings)
    _run_dag(settings, INGEST_DAG, run_date, say)
    summary.dags_run.append(INGEST_DAG)
    if dag_defined(folder, ANALYTICS_DAG):
        _run_dag(settings, ANALYTICS_DAG, run_date, say)
        summary.dags_run.append(ANALYTICS_DAG)
    else:
        say(f"demo: DAG {ANALYTICS_DAG} is not in {folder} yet; skipped")
    if dag_defined(folder, CARE_DAG):
        _run_dag(settings, CARE_DAG, run_date, say)
        summary.dags_run.append(CARE_DAG)

    summary.lines = describe(settings, summary)
    for line in summary.lines:
        say(line)
    return summary


def describe(settings: Settings, summary: DemoRunSummary) -> list[str]:
    """The closing report: what was built and where."""
    lines = ["", "== crmwh demo: what was built ==",
             f"source (CRM database):  {summary.source_url}",
             f"ground truth:           {settings.ground_truth_path}",
             f"business date run:      {summary.run_date} (DAGs: {', '.join(summary.dags_run) or 'none'})"]
    warehouse = Path(settings.warehouse_path or "")
    if warehouse.is_file():
        summary.warehouse_counts = duckdb_table_counts(warehouse)
        lines.append(f"warehouse:              {warehouse}")
        lines.extend(_count_lines(summary.warehouse_counts))
    else:
        lines.append(f"warehouse:              {warehouse} (not created)")
    published = settings.published_path
    if published.is_file():
        summary.published_counts = duckdb_table_counts(published)
        lines.append(f"published file:         {published}")
        lines.extend(_count_lines(summary.published_counts))
    else:
        lines.append(f"published file:         {published} (not created yet)")
    docs = settings.data_docs_dir / "index.html"
    lines.append(f"data docs:              {docs}" + ("" if docs.is_file() else " (not created yet)"))
    report = settings.reports_dir / "report.html"
    lines.append(f"report:                 {report}" + ("" if report.is_file() else " (not created yet)"))
    return lines


def _count_lines(counts: dict[str, dict[str, int]]) -> list[str]:
    out = []
    for schema_name, tables in counts.items():
        for table, n in tables.items():
            name = f"{schema_name}.{table}"
            out.append(f"  {name:<48} {n:>12,}")
    if not out:
        out.append("  (no tables)")
    return out

