"""Batches of a process that died are marked ``abandoned`` by the next writer, and shown so in status;
a live writer's batches, and an Airflow run's batches between its tasks, are left alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from cli_support import crmwh_env, run_crmwh

from warehouse.foundation.db import current_writer, warehouse_writer
from warehouse.foundation.settings import Settings

# A writer that starts a batch (as extraction does: an insert on the writer's connection), releases the
# lock, says so, and then either waits (alive) or dies by SIGKILL before finishing the batch.
START_BATCH = """
import os, signal, sys, time
from datetime import datetime
from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.settings import get_settings
with warehouse_writer(get_settings()) as con:
    con.execute("insert into audit.load_batches (batch_id, run_id, source, entity, source_kind, started_at, "
                "status, step) values (?, 'run.x', 'crm', 'orders', 'database', ?, 'running', 'extracted')",
                [sys.argv[1], datetime.now()])
    con.execute("insert into audit.file_registry (sha256, file_name, file_path, profile, size_bytes, batch_id, "
                "status, registered_at) values (?, 'f.csv', '/x/f.csv', 'canonical', 1, ?, 'running', ?)",
                ["sha-" + sys.argv[1], sys.argv[1], datetime.now()])
print("started", flush=True)
if sys.argv[2] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(60)
"""


def _start(settings: Settings, batch_id: str, fate: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", START_BATCH, batch_id, fate], stdout=subprocess.PIPE,  # noqa: S603
                            text=True, env=crmwh_env(settings.data_dir))
    assert proc.stdout.readline().strip() == "started"
    return proc


def _batch(settings: Settings, batch_id: str) -> tuple[str, str | None, str | None, str]:
    with warehouse_writer(settings) as con:  # taking the lock is what sweeps dead writers' batches
        status, error, writer = con.execute(
            "select status, error, writer from audit.load_batches where batch_id = ?", [batch_id]).fetchone()
        registry = con.execute("select status from audit.file_registry where batch_id = ?", [batch_id]).fetchone()
    return status, error, writer, registry[0]


def test_a_dead_writers_batch_is_abandoned_and_a_live_ones_is_not(settings: Settings) -> None:
    settings.ensure_dirs()
    alive = _start(settings, "b.alive", "wait")
    try:
        dead = _start(settings, "b.dead", "die")
        dead.wait(timeout=30)
        assert dead.returncode == -signal.SIGKILL

        before = run_crmwh(["status"], settings.data_dir)  # a reader: says so, changes nothing
        assert before.code == 0
        assert f"writer: process {dead.pid}" in before.out and "the next run marks it abandoned" in before.out
        assert f"writer: process {alive.pid}" in before.out and "in progress" in before.out

        status, error, writer, registry = _batch(settings, "b.dead")
        assert status == "abandoned" and registry == "abandoned"
        assert f"process {dead.pid}" in error and "stopped before the batch finished" in error
        assert json.loads(writer)["pid"] == dead.pid

        status, error, _, registry = _batch(settings, "b.alive")
        assert (status, error, registry) == ("running", None, "running")  # its writer still lives
    finally:
        alive.kill()
        alive.wait()
    assert _batch(settings, "b.alive")[0] == "abandoned"  # once it is gone, the next writer says so

    after = run_crmwh(["status", "--json"], settings.data_dir)
    rows = {r["batch_id"]: r for r in json.loads(after.out)}
    assert rows["b.dead"]["status"] == rows["b.alive"]["status"] == "abandoned"
    text = run_crmwh(["status"], settings.data_dir).out
    assert "2 abandoned" in text.splitlines()[-1]


def _airflow_batch(settings: Settings, batch_id: str, dag_run: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "crm_ingest")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", dag_run)
    with warehouse_writer(settings) as con:
        con.execute("insert into audit.load_batches (batch_id, source, entity, source_kind, started_at, status) "
                    "values (?, 'crm', 'orders', 'database', ?, 'running')", [batch_id, datetime.now()])


def _status_of(settings: Settings, batch_id: str) -> str:
    with warehouse_writer(settings) as con:
        return con.execute("select status from audit.load_batches where batch_id = ?", [batch_id]).fetchone()[0]


def test_airflow_batches_wait_for_their_next_task_until_another_run_starts(settings: Settings,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    settings.ensure_dirs()
    _airflow_batch(settings, "af.1", "scheduled__2025-12-30", monkeypatch)
    writer = json.loads(_writer_of(settings, "af.1"))
    assert writer["kind"] == "airflow" and writer["run_id"] == "scheduled__2025-12-30"
    # the extract task's process has ended; the same run's next task (and any non-Airflow writer)
    # must find its batches still running
    assert _status_of(settings, "af.1") == "running"
    monkeypatch.delenv("AIRFLOW_CTX_DAG_RUN_ID")
    assert current_writer().kind == "process"
    assert _status_of(settings, "af.1") == "running"
    # the next run of the DAG (one active run at a time) abandons what the old one left running
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "scheduled__2025-12-31")
    assert _status_of(settings, "af.1") == "abandoned"


def _writer_of(settings: Settings, batch_id: str) -> str:
    with warehouse_writer(settings) as con:
        return con.execute("select writer from audit.load_batches where batch_id = ?", [batch_id]).fetchone()[0]


def test_the_lock_file_names_its_holder(settings: Settings) -> None:
    with warehouse_writer(settings):
        holder = json.loads(Path(settings.lock_path).read_text(encoding="utf-8"))
    assert holder["pid"] == os.getpid() and holder["host"] and holder["kind"] == "process"
