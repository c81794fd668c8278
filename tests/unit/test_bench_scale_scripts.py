"""Smoke tests of the issue-8 benchmark scripts at tiny sizes (the measurements themselves are scripts)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spark_mining_bench_runs_the_default_engine_on_tiny_input(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_spark_mining.py"), "--baskets", "3000",
                           "--min-support", "0.01", "--engines", "default", "--json", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (result,) = json.loads(out.read_text())["results"]
    assert result["status"] == "ok" and result["baskets"] == 3000 and result["rules"] > 0
    assert result["tree_peak_mib"] > 0
    assert "| 3,000 | default |" in proc.stdout


def test_scaling_table_renders_every_stage_and_failures() -> None:
    bench = _module("bench_scaling")
    ok = {"status": "ok", "seconds": 1.5, "cpu_s": 1.0, "peak_mib": 200, "load_avg": "1.0-2.0", "info": {}}
    results = [{**ok, "scale": "small", "stage": s} for s in bench.STAGES]
    results[0]["info"] = {"rows": 40110, "order_lines": 20834}
    results.append({**ok, "scale": "large", "stage": "generate"})
    results.append({"scale": "large", "stage": "extract", "status": "failed (exit 1)"})
    text = bench.markdown(results, "python benchmarks/bench_scaling.py", "Machine: test")
    assert "| generate | 1.5 s / 1.0 s / 200 MiB | 1.5 s / 1.0 s / 200 MiB |" in text
    assert "| extract | 1.5 s / 1.0 s / 200 MiB | failed (exit 1) |" in text
    assert "| publish | 1.5 s / 1.0 s / 200 MiB | not run |" in text
    assert "| small | 40,110 | 20,834 |" in text


def test_spark_master_and_driver_memory_reach_the_spark_engine(tmp_path: Path, data_dir: Path,
                                                                monkeypatch) -> None:
    """`crmwh mine --engine spark --spark-master URL` hands the URL and the configured driver heap to Spark."""
    import pandas as pd

    import transforms.spark_engine as spark_engine
    from transforms.association import MiningResult
    from warehouse.cli import main

    seen: dict = {}

    class FakeSession:
        def stop(self) -> None:
            seen["stopped"] = True

    def fake_spark_session(master, **kwargs):
        seen.update(master=master, **kwargs)
        return FakeSession()

    def fake_mine_spark(baskets, params, **kwargs):
        seen["session"] = kwargs.get("spark")
        empty = pd.DataFrame({c: [] for c in ("itemset", "length", "count", "support")})
        from transforms.association import score_rules

        return MiningResult(itemsets=empty, rules=score_rules([], [], {}, baskets.n_baskets, 0, 0, 0.05),
                            n_baskets=baskets.n_baskets, min_count=2)

    monkeypatch.setattr(spark_engine, "mine_spark", fake_mine_spark)
    monkeypatch.setattr(spark_engine, "spark_session", fake_spark_session)
    monkeypatch.setenv("CRMWH_MINING__SPARK_DRIVER_MEMORY", "3g")
    baskets = tmp_path / "b.txt"
    baskets.write_text("A,B\nA,B\nB,C\n", encoding="utf-8")
    code = main(["mine", "--baskets", str(baskets), "--engine", "spark", "--spark-master", "spark://host:7077",
                 "--min-support", "2", "--out", str(tmp_path / "r.csv")])
    assert code == 0
    assert seen["master"] == "spark://host:7077" and seen["driver_memory"] == "3g"
    assert isinstance(seen["session"], FakeSession) and seen["stopped"]  # our own session, stopped after
