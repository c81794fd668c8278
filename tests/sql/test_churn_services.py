"""The retail churn logic on a services demo (contractual: its churn is a contract not renewed, see
docs/churn.md): runs end to end, ranks active customers, and keeps lapsed ones on the win-back list."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb

from warehouse.analytics.churn import run_churn
from warehouse.foundation.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_churn", ROOT / "benchmarks" / "bench_churn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_churn_runs_on_a_services_demo(tmp_path: Path) -> None:
    path = tmp_path / "services.duckdb"
    _bench().prepare_demo(path, "small", 3, "services")  # the demo's tables mapped onto core
    con = duckdb.connect(str(path))
    counts = run_churn(con, load_settings(environ={}, data_dir=str(tmp_path)))
    assert counts["marts.customer_retention"] > 100 and counts["marts.model_card"] > 0
    horizon = con.execute("select any_value(horizon_days) from marts.model_card").fetchall()[0][0]
    assert 30 <= horizon <= 180  # derived from the purchase cycle, within the settings' bounds
    stats = con.execute("""select count(*), count(risk_score), count(retention_offer), count(distinct risk_band)
                           from marts.customer_retention""").fetchall()[0]
    assert stats[0] == stats[1] == stats[2] and stats[3] == 3
    lapsed = con.execute("select count(*) from marts.customer_winback where days_since_last_purchase <= ?",
                         [horizon]).fetchall()[0][0]
    assert lapsed == 0
    grades = dict(con.execute("select credit_grade, count(*) from marts.customer_retention group by 1").fetchall())
    assert len([g for g in grades if g]) >= 3  # invoices paid late: the grades spread
