"""`crmwh churn` on a warehouse file: counts and the model's metrics, one-line errors."""

from __future__ import annotations

import pytest
from churn_support import synthesize_core

from warehouse.cli import main
from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.settings import Settings


def test_churn_command_runs_on_the_warehouse(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with warehouse_writer(settings) as con:
        synthesize_core(con, n_customers=250, seed=4)
    assert main(["churn", "--as-of", "2026-01-01"]) == 0
    out = capsys.readouterr().out
    assert "marts.customer_retention:" in out and "marts.model_card:" in out
    assert "churn as of 2026-01-01 (horizon " in out and "model trained" in out
    assert "published, out-of-time ROC AUC" in out


def test_churn_command_errors_in_one_line(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["churn"]) == 2
    assert "no warehouse at" in capsys.readouterr().err
    with warehouse_writer(settings) as con:
        con.execute("select 1").fetchall()
    assert main(["churn", "--as-of", "yesterday"]) == 2
    assert "--as-of must be a date" in capsys.readouterr().err
    assert main(["churn"]) == 2  # migrated warehouse, but no sales loaded yet
    err = capsys.readouterr().err
    assert err.startswith("crmwh: error:") and len(err.strip().splitlines()) == 1
