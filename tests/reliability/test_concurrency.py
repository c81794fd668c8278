"""Two pipeline invocations at once: the second waits for the writer lock (and then changes nothing), or
stops with PipelineBusyError's one clear line when its wait runs out; nothing is corrupted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import reliability_support as rs
from ingest_support import build_source

from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.settings import Settings, load_settings
from warehouse.ingest.source_contract import SOURCE_TABLES
from warehouse.ops import pipeline

END = "2024-06-01"


@pytest.fixture
def rel_settings(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    settings = load_settings()
    settings.ensure_dirs()
    build_source(settings.source_url)
    return settings


def _crmwh(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "warehouse.cli", *args], stdout=subprocess.PIPE,  # noqa: S603
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def _checksums(settings: Settings) -> dict:
    """Core checksums without the run-metadata columns (reliability_support.RUN_METADATA)."""
    return rs.warehouse_checksums(settings.warehouse_path, ("core",))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_runs_at_once_the_second_waits_and_the_result_equals_one_run(
        rel_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _crmwh("run", "--end", END), _crmwh("run", "--end", END)
    outs = [p.communicate(timeout=200) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    together = _checksums(rel_settings)
    batches = duckdb.connect(str(rel_settings.warehouse_path), read_only=True).execute(
        "select status, count(*) from audit.load_batches group by 1").fetchall()
    # two runs of every source table, none failed, none left running
    assert dict(batches) == {"succeeded": 2 * len(SOURCE_TABLES)}
    # the same source loaded once, alone, in another data directory
    monkeypatch.setenv("CRMWH_DATA_DIR", str(tmp_path / "alone"))
    monkeypatch.setenv("CRMWH_SOURCE_URL", rel_settings.source_url)
    alone = load_settings()
    alone.ensure_dirs()
    pipeline.run(alone, pipeline.Interval.parse(None, END))
    assert _checksums(alone) == together


def test_a_second_run_stops_with_a_clear_message_when_the_lock_wait_runs_out(rel_settings: Settings) -> None:
    with warehouse_writer(rel_settings) as con:  # another run is writing
        con.execute("select 1")
        started = time.monotonic()
        proc = _crmwh("run", "--end", END, env={"CRMWH_LOCK_TIMEOUT_S": "1"})
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, (out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("crmwh: error: another pipeline run is writing the warehouse")
    assert time.monotonic() - started < 60
    # nothing was written by the refused run; the next run works
    con = duckdb.connect(str(rel_settings.warehouse_path), read_only=True)
    assert con.execute("select count(*) from audit.load_batches").fetchone()[0] == 0
    con.close()
    pipeline.run(rel_settings, pipeline.Interval.parse(None, END))
    assert _checksums(rel_settings)["core.fct_sales_line"][0] == 80
