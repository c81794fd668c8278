"""Run Airflow with the project's embedded defaults, so users never configure Airflow by hand.

The embedded default keeps Airflow's metadata database (SQLite) and logs under the data directory and
points the DAG folder at this repository's ``dags/``. Any ``AIRFLOW__*`` variable the user already set
wins, which is how the deployment profile (PostgreSQL metadata, CeleryExecutor) is selected.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `crmwh airflow --help` does not load the settings (pydantic-settings)
    from warehouse.foundation.settings import Settings

WAREHOUSE_POOL = "crmwh_warehouse"
WAREHOUSE_POOL_SLOTS = 1

# Task defaults of every crmwh DAG: an owner, retries with exponential backoff, and the one-slot
# warehouse pool (tasks that only read override ``pool``).
DAG_DEFAULT_ARGS: dict[str, object] = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=20),
    "pool": WAREHOUSE_POOL,
}


def airflow_environment(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment an Airflow command runs with.

    Airflow's home and the data directory always come from the settings (move them with
    ``CRMWH_AIRFLOW_HOME`` / ``CRMWH_DATA_DIR``), so every Airflow command of the project sees the same
    metadata database and warehouse; for any other ``AIRFLOW__*`` variable the caller's value wins.
    """
    from warehouse.foundation.settings import DAGS_DIR

    base = dict(os.environ if base is None else base)
    home = Path(settings.airflow_home or settings.data_dir / "airflow")
    owned = {
        "AIRFLOW_HOME": str(home),
        # the DAG files read the project's settings from the same data directory
        "CRMWH_DATA_DIR": str(settings.data_dir),
    }
    defaults = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
    return {**defaults, **base, **owned}


def airflow_executable() -> str:
    """The ``airflow`` script of the running interpreter's environment."""
    candidate = Path(sys.executable).with_name("airflow")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("airflow")
    if not found:
        raise FileNotFoundError("the airflow command is not installed in this environment; run `make install`")
    return found


def run_airflow(settings: Settings, args: Sequence[str], *, check: bool = True,
                capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``airflow ARGS`` with the project's environment."""
    env = airflow_environment(settings)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return subprocess.run(  # noqa: S603 - the executable is our own environment's airflow
        [airflow_executable(), *args], env=env, check=check, text=True,
        capture_output=capture,
    )


def ensure_airflow_ready(settings: Settings) -> None:
    """Create or upgrade the metadata database and the warehouse pool (idempotent)."""
    run_airflow(settings, ["db", "migrate"], capture=True)
    run_airflow(settings, ["pools", "set", WAREHOUSE_POOL, str(WAREHOUSE_POOL_SLOTS),
                           "One writer at a time on the DuckDB warehouse"], capture=True)
