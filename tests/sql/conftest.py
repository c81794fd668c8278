"""Fixtures shared by the SQL tests: one small synthetic warehouse scored once per session (churn) and
the hand-made services source loaded once per session."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from churn_support import synthesize_core

from warehouse.analytics.churn import run_churn
from warehouse.foundation.settings import Settings, load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHURN_AS_OF = dt.date(2026, 1, 1)
SERVICES_AS_OF = dt.date(2026, 1, 1)


@pytest.fixture(scope="session")
def churn_warehouse(tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[tuple[duckdb.DuckDBPyConnection, Settings, dict[str, int]]]:
    """600 synthetic customers to 2025-12-31 with one cross-sell offer, churn computed as of 2026-01-01."""
    path = tmp_path_factory.mktemp("churn") / "crm.duckdb"
    con = duckdb.connect(str(path))
    for schema in ("analytics", "marts"):
        con.execute(f"create schema if not exists {schema}")
    synthesize_core(con, n_customers=600, seed=5)
    settings = load_settings(environ={}, data_dir=str(path.parent))
    con.execute("""create table marts.cross_sell_recommendations as
        select 'C000001' as customer_id, 1 as recommendation_rank, 'P00002' as product_id,
               'Teapot' as product_name, 0.4 as score, 'bought Cups: 40% of such baskets also hold Teapot' as reason
        union all select 'C000001', 2, 'P00003', 'Saucer', 0.3, 'second'""")
    counts = run_churn(con, settings, CHURN_AS_OF)
    yield con, settings, counts
    con.close()


@pytest.fixture(scope="session")
def services_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/services_support.py's source loaded through the pipeline, the services marts built as of
    SERVICES_AS_OF. Read it, or copy it (shutil.copytree) before writing."""
    from services_support import load_services_template

    from warehouse.analytics.services_marts import build_services_marts
    from warehouse.foundation.db import warehouse_writer

    directory = tmp_path_factory.mktemp("services") / "data"
    directory.mkdir()
    load_services_template(directory)
    settings = load_settings({"CRMWH_DATA_DIR": str(directory), "CRMWH_SERVICES__BOOTSTRAP_SAMPLES": "50"})
    with warehouse_writer(settings) as con:
        build_services_marts(con, settings, SERVICES_AS_OF)
    return directory
