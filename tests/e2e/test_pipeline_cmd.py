"""``crmwh pipeline``: the whole job in one process publishes the marts on a fresh data directory."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import duckdb
import pytest

from warehouse.cli import main
from warehouse.foundation.settings import Settings
from warehouse.ops.job import STEP_NAMES, STEPS
from warehouse.serve.publish import verify_published

HERE = Path(__file__).resolve().parent


def _reliability_support():
    spec = importlib.util.spec_from_file_location("reliability_support",
                                                  HERE.parent / "reliability" / "reliability_support.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_pipeline_on_a_fresh_data_directory_publishes_the_marts(pipeline_settings: Settings,
                                                               capsys: pytest.CaptureFixture) -> None:
    settings = pipeline_settings
    _reliability_support().generate_tiny_demo(settings)
    assert not settings.warehouse_path.exists()

    assert main(["pipeline"]) == 0
    out = capsys.readouterr().out
    for number, step in enumerate(STEPS, start=1):
        assert f"[{number}/{len(STEPS)}] {step.title}: done" in out, step.name
    manifest = verify_published(settings)  # DuckDB and Parquet agree with the manifest
    assert {"cross_sell_rules", "cross_sell_recommendations", "customer_retention", "cohort_retention",
            "churn_by_segment"} <= set(manifest.row_counts)
    assert manifest.row_counts["customer_retention"] > 0 and manifest.run_id.startswith("pipeline.")
    assert f"published version {manifest.version}" in out
    assert (settings.reports_dir / "report.html").is_file()
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        statuses = dict(con.execute("select status, count(*) from audit.load_batches group by 1").fetchall())
    finally:
        con.close()
    assert set(statuses) == {"succeeded"} and statuses["succeeded"] >= 8

    # again, as one JSON document, only re-publishing what the first run built
    skip = [a for n in STEP_NAMES if n != "publish" for a in ("--skip", n)]
    assert main(["pipeline", "--json", *skip]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [s["step"] for s in summary["steps"]] == ["publish"] and summary["run_id"].startswith("pipeline.")
    published = summary["steps"][0]
    assert published["status"] == "succeeded" and published["result"]["version"] != manifest.version
    assert published["result"]["row_counts"] == manifest.row_counts


def test_unknown_step_is_one_line(data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["pipeline", "--skip", "mining"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crmwh: error: unknown step(s) mining; the steps are extract_crm, ")


def test_a_failing_step_stops_the_job_and_names_it(data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    # no CRM source in a fresh data directory: the first step fails, nothing after it runs
    assert main(["pipeline"]) == 2
    captured = capsys.readouterr()
    assert "[1/" in captured.out and "stopped at step extract_crm; steps done: none" in captured.out
    assert captured.err.startswith("crmwh: error: pipeline step extract_crm failed: ")
    assert captured.err.count("\n") == 1


def test_an_optional_step_whose_module_is_missing_is_skipped(pipeline_settings: Settings) -> None:
    from warehouse.ops.job import JobContext, Step, run_step
    from warehouse.ops.pipeline import Interval

    ctx = JobContext(pipeline_settings, Interval.parse(None, "2025-12-31"))
    result = run_step(Step("care", "weekly care scan", "warehouse.no_such_care_module:run", optional=True), ctx)
    assert result.status == "skipped" and "not part of this installation" in result.summary
    with pytest.raises(ModuleNotFoundError):
        run_step(Step("care", "weekly care scan", "warehouse.no_such_care_module:run"), ctx)
