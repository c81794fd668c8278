"""The Airflow deployment profile: PostgreSQL metadata database, CeleryExecutor, Redis broker.

The DAG files are the same as for the embedded default; only the environment differs. This module
builds that environment and starts or stops the Airflow services on one machine (what the integration
test and a single-host deployment use). On several hosts, run the same commands with the same
environment on each host; add workers with more ``airflow celery worker`` processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from warehouse.foundation.errors import CrmwhError
from warehouse.foundation.settings import Settings
from warehouse.ops.airflow_env import (
    WAREHOUSE_POOL,
    WAREHOUSE_POOL_SLOTS,
    airflow_environment,
    airflow_executable,
)


@dataclass(frozen=True)
class CeleryProfile:
    """Where the shared services are. Secrets come from the environment, never from files in git."""

    metadata_url: str  # e.g. postgresql+psycopg://airflow@db-host:5432/airflow
    broker_url: str  # e.g. redis://redis-host:6379/0
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    workers: int = 2
    worker_concurrency: int = 2
    first_worker_log_port: int = 8794
    jwt_secret_env: str = "AIRFLOW__API_AUTH__JWT_SECRET"
    queue: str = "default"  # the Celery queue the tasks go to and the workers listen on
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def async_metadata_url(self) -> str:
        """Airflow's async engine URL: psycopg 3's async driver instead of asyncpg."""
        scheme, rest = self.metadata_url.split("://", 1)
        if not scheme.startswith("postgresql"):
            raise CrmwhError(f"the Celery profile needs a PostgreSQL metadata database, got {scheme}://")
        return f"postgresql+psycopg_async://{rest}"

    @property
    def result_backend(self) -> str:
        scheme, rest = self.metadata_url.split("://", 1)
        return f"db+postgresql+psycopg://{rest}"


def celery_environment(settings: Settings, profile: CeleryProfile,
                       base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment shared by every Airflow component of the Celery deployment."""
    base = dict(os.environ if base is None else base)
    secret = base.get(profile.jwt_secret_env)
    if not secret:
        raise CrmwhError(
            f"set {profile.jwt_secret_env} to a long random secret shared by all Airflow components "
            "(it signs the task tokens); it is read from the environment only")
    env = airflow_environment(settings, base)
    env.update({
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": profile.metadata_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": profile.async_metadata_url,
        "AIRFLOW__CELERY__BROKER_URL": profile.broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": profile.result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(profile.worker_concurrency),
        "AIRFLOW__API__PORT": str(profile.api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{profile.api_host}:{profile.api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secret,
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": profile.queue,
        **profile.extra,
    })
    return env


@dataclass
class RunningStack:
    """Processes of a started deployment, with their log files."""

    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def airflow(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([airflow_executable(), *args], env=self.env, check=check,  # noqa: S603
                              text=True, capture_output=True)

    def alive(self) -> dict[str, bool]:
        return {name: proc.poll() is None for name, proc in self.processes.items()}

    def stop(self, timeout_s: float = 30) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # a service's children (a worker's task processes) can outlive it for a moment and still hold the
        # warehouse file: stopped means every process of every group has gone
        for proc in self.processes.values():
            while _group_alive(proc.pid) and time.monotonic() < deadline + 10:  # (a zombie never goes)
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    """True while any process of the group exists (one we may not signal counts as alive)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def start_stack(settings: Settings, profile: CeleryProfile, log_dir: Path,
                base_env: Mapping[str, str] | None = None) -> RunningStack:
    """Migrate the metadata database, create the pool and start every service of the deployment."""
    env = celery_environment(settings, profile, base_env)
    log_dir.mkdir(parents=True, exist_ok=True)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    stack = RunningStack(env=env, log_dir=log_dir)
    stack.airflow("db", "migrate")
    stack.airflow("pools", "set", WAREHOUSE_POOL, str(WAREHOUSE_POOL_SLOTS),
                  "One writer at a time on the DuckDB warehouse")
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "api-server": (["api-server", "--port", str(profile.api_port)], {}),
        "scheduler": (["scheduler"], {}),
        "dag-processor": (["dag-processor"], {}),
    }
    for i in range(profile.workers):
        commands[f"worker{i + 1}"] = (
            ["celery", "worker", "--celery-hostname", f"worker{i + 1}@%h",
             "--concurrency", str(profile.worker_concurrency), "--queues", profile.queue],
            {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(profile.first_worker_log_port + i)},
        )
    for name, (args, extra_env) in commands.items():
        log = open(log_dir / f"{name}.log", "w")  # noqa: SIM115 - kept open for the process's life
        stack.processes[name] = subprocess.Popen(  # noqa: S603
            [airflow_executable(), *args], env={**env, **extra_env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    return stack
