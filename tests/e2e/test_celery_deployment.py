"""The deployment profile for real: PostgreSQL metadata, CeleryExecutor on Redis, two workers.

Starts the Airflow services (API server, scheduler, DAG processor, two Celery workers) with the same
DAG files as the embedded default, triggers `crm_ingest`, lets its Assets trigger `crm_analytics`, and
checks that both succeed, that tasks ran on both workers and that the warehouse-writing tasks never
overlapped (the one-slot pool serialises them).
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from warehouse.foundation.settings import load_settings
from warehouse.ops.airflow_env import WAREHOUSE_POOL
from warehouse.ops.deploy import CeleryProfile, start_stack

REDIS = ("127.0.0.1", 6379)
REDIS_DB = 11


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_reason() -> str | None:
    try:
        with socket.create_connection(REDIS, timeout=2) as s:
            s.sendall(b"PING\r\n")
            if not s.recv(16).startswith(b"+PONG"):
                return "Redis answered, but not PONG"
    except OSError as exc:
        return f"Redis not reachable at {REDIS[0]}:{REDIS[1]} ({exc})"
    return None


def _redis_flush(db: int) -> None:
    with socket.create_connection(REDIS, timeout=2) as s:
        s.sendall(f"SELECT {db}\r\nFLUSHDB\r\n".encode())
        s.recv(64)


def _json_list(output: str) -> list[dict]:
    """The JSON list an `airflow ... -o json` command printed among its log lines."""
    for line in reversed(output.splitlines()):
        if line.startswith("[{") or line.strip() == "[]":
            return json.loads(line)
    return []


def _runs(stack, dag_id: str) -> list[dict]:
    return _json_list(stack.airflow("dags", "list-runs", dag_id, "-o", "json", check=False).stdout)


def _wait(predicate, timeout_s: float, what: str, stack) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        dead = [name for name, ok in stack.alive().items() if not ok]
        if dead:
            raise AssertionError(f"Airflow service(s) died while waiting for {what}: {dead}; "
                                 f"logs in {stack.log_dir}")
        time.sleep(3)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; logs in {stack.log_dir}")


@pytest.mark.airflow
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(1200)
def _open_when_released(path: Path, timeout_s: float) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-only once no process holds its write lock (fails after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_celery_deployment_runs_ingest_and_analytics_on_two_workers(
        data_dir: Path, pg_schema_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reason = _redis_reason()
    if reason:
        pytest.skip(f"{reason}; the Celery profile needs Redis as its broker")
    from warehouse.demo.generator import GenerateOptions, generate

    settings = load_settings()
    settings.ensure_dirs()
    generate(settings.source_url, settings.ground_truth_path, GenerateOptions(scale="small", seed=7))
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(32))
    _redis_flush(REDIS_DB)
    profile = CeleryProfile(metadata_url=pg_schema_url, broker_url=f"redis://{REDIS[0]}:{REDIS[1]}/{REDIS_DB}",
                            api_port=_free_port(), workers=2, worker_concurrency=2,
                            first_worker_log_port=_free_port(), queue=f"crmwh_it_{secrets.token_hex(4)}")
    log_dir = data_dir / "airflow-services"
    stack = start_stack(settings, profile, log_dir)
    try:
        # a run left over from an earlier (killed) test must not steal our tasks: own queue, own DB
        _wait(lambda: {"crm_ingest", "crm_analytics"} <= {
            d.get("dag_id") for d in _json_list(stack.airflow("dags", "list", "-o", "json", check=False).stdout)},
              240, "the DAG processor to register both DAGs", stack)
        for dag_id in ("crm_ingest", "crm_analytics"):
            stack.airflow("dags", "unpause", dag_id)
        stack.airflow("dags", "trigger", "crm_ingest", "--logical-date", "2026-01-01T00:00:00+00:00",
                      "--run-id", "it_ingest")

        def run_state(dag_id: str) -> str | None:
            runs = _runs(stack, dag_id)
            states = {r["state"] for r in runs}
            if "failed" in states:
                raise AssertionError(f"{dag_id} failed; logs in {stack.log_dir} and {settings.airflow_home}/logs")
            return "success" if "success" in states else None

        _wait(lambda: run_state("crm_ingest") == "success", 600, "crm_ingest to succeed", stack)
        _wait(lambda: run_state("crm_analytics") == "success", 600,
              "crm_analytics (triggered by the core Assets) to succeed", stack)
    finally:
        stack.stop()
        _redis_flush(REDIS_DB)

    # tasks ran on both workers
    executed = {name: (log_dir / f"{name}.log").read_text(errors="replace").count("Executing workload")
                for name in ("worker1", "worker2")}
    assert all(n > 0 for n in executed.values()), executed

    # the warehouse-writing tasks never overlapped
    engine = sa.create_engine(pg_schema_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select dag_id, task_id, start_date, end_date from task_instance "
            "where pool = :pool and state = 'success' order by start_date"), {"pool": WAREHOUSE_POOL}).all()
    engine.dispose()
    assert len(rows) >= 8
    for before, after in zip(rows, rows[1:], strict=False):
        assert before.end_date <= after.start_date, f"{before.task_id} overlapped {after.task_id}"

    # and the data arrived (a task process of Airflow's supervisor may still be closing the file)
    con = _open_when_released(settings.warehouse_path, 120)
    try:
        lines = con.execute("select count(*) from core.fct_sales_line").fetchone()[0]
    finally:
        con.close()
    assert lines > 1000
    assert settings.published_path.exists()
