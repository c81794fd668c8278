"""The ``crmwh`` command line: thin wiring over the project's functions.

Each area registers its own subcommands from a module in ``warehouse.commands``; this file only
assembles them and turns known errors into one clear line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from warehouse.errors import CrmwhError
from warehouse.settings import SettingsError

# One module per area; each defines ``register(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "warehouse.commands.airflow_cmd",
    "warehouse.commands.publish_cmd",
    "warehouse.commands.mine_cmd",
    "warehouse.commands.churn_cmd",
    "warehouse.commands.ingest_cmd",
    "warehouse.commands.quarantine_cmd",
    "warehouse.commands.demo_cmd",
    "warehouse.commands.profile_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmwh", description="CRM analytical warehouse")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except (CrmwhError, SettingsError) as exc:
        print(f"crmwh: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("crmwh: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
