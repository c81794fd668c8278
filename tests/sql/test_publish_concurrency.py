"""A reader process querying the published marts during three publishes sees no error and no mix."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sample_marts import create_sample_marts

from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.settings import Settings
from warehouse.serve.publish import publish

READER = Path(__file__).with_name("published_reader.py")


def _records(progress: Path) -> list[dict]:
    if not progress.exists():
        return []
    return [json.loads(line) for line in progress.read_text(encoding="utf-8").splitlines() if line.strip()]


def _wait_for(progress: Path, run_id: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = {r["path"] for r in _records(progress) if r.get("run_ids") == [run_id]}
        if seen == {"duckdb", "parquet"}:
            return
        time.sleep(0.05)
    raise AssertionError(f"the reader never saw run {run_id} within {timeout_s}s")


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_reader_sees_only_complete_versions_during_three_publishes(settings: Settings, tmp_path: Path) -> None:
    progress, stop = tmp_path / "reads.jsonl", tmp_path / "stop"
    expected: dict[str, dict[str, int]] = {}
    with warehouse_writer(settings) as con:
        create_sample_marts(con, scale=1)
        expected["run-0"] = publish(settings, "run-0", None, "passed", con=con).row_counts
    reader = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(READER), str(settings.published_path), str(settings.parquet_dir), str(progress),
         str(stop)])
    try:
        _wait_for(progress, "run-0")
        for i in range(1, 4):  # three consecutive publishes, each with different row counts
            with warehouse_writer(settings) as con:
                create_sample_marts(con, scale=1 + 5 * i)
                expected[f"run-{i}"] = publish(settings, f"run-{i}", None, "passed", con=con).row_counts
            _wait_for(progress, f"run-{i}")
    finally:
        stop.touch()
        reader.wait(timeout=30)
    assert reader.returncode == 0
    records = _records(progress)
    errors = [r for r in records if not r["ok"]]
    assert errors == [], errors[:5]
    assert len(records) >= 8
    assert {r["run_ids"][0] for r in records} == set(expected)  # every version was seen, nothing else
    assert len({tuple(sorted(c.items())) for c in expected.values()}) == 4  # versions are distinguishable
    assert all(r["tables"] == len(expected[r["run_ids"][0]]) for r in records)


def test_the_reader_catches_a_half_swapped_version(tmp_path: Path) -> None:
    """The consistency check can fail: a manifest from one version beside tables of another."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq
    from published_reader import read_duckdb, read_parquet

    folder = tmp_path / "parquet"
    folder.mkdir()
    pq.write_table(pa.table({"run_id": ["new"], "table_name": ["t"], "row_count": [3]}),
                   folder / "publish_manifest.parquet")
    pq.write_table(pa.table({"a": [1, 2]}), folder / "t.parquet")  # still the old version's file
    result = read_parquet(folder)
    assert not result["ok"] and result["mismatches"] == ["t: 2 != 3"]

    db = tmp_path / "marts.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create table t as select 1 as a")
    con.execute("create table publish_manifest as select * from (values ('new', 't', 3), ('old', 't', 1)) "
                "v(run_id, table_name, row_count)")
    con.close()
    result = read_duckdb(db)
    assert not result["ok"] and result["run_ids"] == ["new", "old"]


CHILD = """
import sys
from sample_marts import create_sample_marts
from warehouse.foundation.db import warehouse_writer
from warehouse.serve.publish import publish
from warehouse.foundation.settings import load_settings

settings = load_settings()
with warehouse_writer(settings) as con:
    create_sample_marts(con, scale=int(sys.argv[1]))
    for i in range(50):  # publish again and again until killed
        publish(settings, f"child-{sys.argv[1]}-{i}", None, "passed", con=con)
        print(f"published {i}", flush=True)
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_publisher_killed_at_any_moment_leaves_one_complete_version(settings: Settings) -> None:
    import os
    import random
    import signal

    from warehouse.serve.publish import list_versions, verify_published

    with warehouse_writer(settings) as con:
        create_sample_marts(con, scale=1)
        publish(settings, "base", None, "passed", con=con)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    rng = random.Random(6)
    seen_runs = set()
    for trial in range(3):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(trial + 2)], env=env,  # noqa: S603
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().startswith("published"), "the child could not publish"
        time.sleep(rng.uniform(0.0, 0.8))  # somewhere inside one of the next publishes (each takes ~0.3-1 s)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        manifest = verify_published(settings)  # one complete version, whatever the moment of the kill
        seen_runs.add(manifest.run_id)
    with warehouse_writer(settings) as con:  # and the next publish cleans up after the killed ones
        create_sample_marts(con, scale=9)
        final = publish(settings, "after-kills", None, "passed", con=con)
    assert verify_published(settings) == final
    assert not [p for p in (settings.published_dir / "versions").iterdir() if p.name.startswith(".")]
    assert len(list_versions(settings)) <= settings.publish.keep_versions + 1
    assert any(r.startswith("child-") for r in seen_runs), "the children never got to publish: kill later"
