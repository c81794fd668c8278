"""``crmwh airflow ARGS``: Airflow's own CLI with the project's embedded configuration."""

from __future__ import annotations

import argparse

from warehouse.commands.common import get_settings
from warehouse.ops.airflow_env import ensure_airflow_ready, run_airflow


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "airflow",
        help="run an Airflow command with the project's configuration (e.g. `crmwh airflow dags list`)",
    )
    parser.add_argument("airflow_args", nargs=argparse.REMAINDER, help="arguments passed to airflow")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    ensure_airflow_ready(settings)
    return run_airflow(settings, args.airflow_args, check=False).returncode
