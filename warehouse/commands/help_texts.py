"""What every ``crmwh`` subcommand does, with examples: shown by ``crmwh COMMAND --help``.

A command module may set its own ``description`` and ``epilog`` (they win); this table fills in the
commands whose modules do not, so each help page says what the command does and shows how it is used.
Keys are command paths as typed (``"quarantine list"``). Nothing here imports more than the standard
library: ``crmwh --help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator

# command path -> (what it does, example command lines)
HELP: dict[str, tuple[str, tuple[str, ...]]] = {
    "airflow": (
        "Run an Airflow CLI command with the project's embedded configuration (metadata database, DAG "
        "folder and logs under the data directory); everything after `airflow` goes to Airflow.",
        ("crmwh airflow dags list", "crmwh airflow dags test crm_ingest 2025-12-31")),
    "publish": (
        "", ("crmwh publish", "crmwh publish --run-id nightly-2025-12-31", "crmwh publish --verify-only")),
    "query": (
        "", ('crmwh query "show tables"',
             'crmwh query "select rfm_segment, count(*) from customer_retention group by 1" --format csv',
             'crmwh query "select * from marts.publish_manifest" --format json --timeout 30')),
    "report": (
        "Write the marketers' report (charts of every published mart, readable offline in one HTML file) "
        "from the current published version.",
        ("crmwh report", "crmwh report --out /tmp/report.html")),
    "mine": (
        "", ("crmwh mine", "crmwh mine --as-of 2025-12-31 --out overall_rules.csv",
             "crmwh mine --baskets baskets.txt --min-support 0.01 --min-confidence 0.5 --out rules.csv")),
    "churn": ("", ("crmwh churn", "crmwh churn --as-of 2025-12-01")),
    "evaluate": (
        "", ("crmwh evaluate", "crmwh evaluate --as-of 2025-11-01 --holdout-days 60",
             "crmwh evaluate --as-of 2011-10-01 --holdout-days 60 --k 10")),
    "ingest": (
        "Register one file drop (CSV with any delimiter, XLSX or Parquet), copy it into the landing folder "
        "and load it now: raw -> staging -> validation (bad lines go to quarantine) -> core. The same "
        "content is loaded only once.",
        ("crmwh ingest exports/sales_2025-12.csv", "crmwh ingest online_retail.xlsx --profile online_retail")),
    "run": (
        "Extract the CRM database (incrementally, by updated_at watermark) and the landing folder's new "
        "files, then stage, validate and load the core star schema. The marts are not rebuilt: "
        "`crmwh pipeline` runs the whole job.",
        ("crmwh run", "crmwh run --end 2025-12-31", "crmwh run --start 2025-11-01 --end 2025-11-30   # backfill",
         "crmwh run --no-crm   # only the landing folder")),
    "status": (
        "Show the latest load batches: source, status (running, succeeded, failed, rejected, abandoned), "
        "validation status (passed, warning, failed), rows read / loaded / quarantined, errors and notes.",
        ("crmwh status", "crmwh status --limit 100", "crmwh status --json")),
    "care": (
        "The weekly care scan (what the crm_care DAG does): rebuild the services marts (sales funnel, "
        "contract renewals, service SLAs), write the week's care actions, then publish and write the report.",
        ("crmwh care", "crmwh care --week 2025-12-29", "crmwh care --as-of 2026-01-01 --no-publish")),
    "profile": (
        "", ("crmwh profile list", "crmwh profile infer exports/sales_eu.csv",
             "crmwh profile show online_retail")),
    "profile infer": (
        "", ("crmwh profile infer exports/sales_eu.csv",
             "crmwh profile infer exports/sales_eu.csv --name sales_eu --out layouts/sales_eu.toml --force")),
    "profile list": ("", ("crmwh profile list",)),
    "profile show": ("", ("crmwh profile show online_retail", "crmwh profile show layouts/sales_eu.toml")),
    "pipeline": ("", ("crmwh pipeline", "crmwh pipeline --as-of 2025-12-31", "crmwh pipeline --skip report")),
    "quarantine": (
        "", ("crmwh quarantine list", "crmwh quarantine replay --table stg_crm__order_lines")),
    "quarantine list": (
        "Show quarantined rows, newest first: the table, batch and row, the rules each broke, the reason "
        "and the record as read.",
        ("crmwh quarantine list", "crmwh quarantine list --table stg_files__sales_lines --limit 0",
         "crmwh quarantine list --json")),
    "quarantine replay": (
        "Re-validate quarantined rows (for example after a missing product arrived in the CRM) and load the "
        "ones that now pass; the others keep their refreshed reasons.",
        ("crmwh quarantine replay", "crmwh quarantine replay --table stg_crm__order_lines --json")),
    "demo": (
        "The demo CRM source: generate it, move its business forward, or run the whole demo through "
        "Airflow (what `make demo` does).",
        ("crmwh demo run", "crmwh demo generate --scale small --seed 42")),
    "demo generate": (
        "Write the demo CRM source database (SQLite by default, or any SQLAlchemy URL) and the ground truth "
        "of what it planted (bundles, churn, dirt).",
        ("crmwh demo generate --scale small --seed 42",
         "crmwh demo generate --profile services --url postgresql+psycopg://crm@localhost/crm --force")),
    "demo advance": (
        "Move the demo business forward by N days: new customers and orders, ticket updates, attribute and "
        "price changes, all stamped after the previous business clock.",
        ("crmwh demo advance --days 7",)),
    "demo run": (
        "Generate the demo source if there is none, run crm_ingest and crm_analytics through `airflow dags "
        "test` at the business clock, and print row counts.",
        ("crmwh demo run", "crmwh demo run --date 2025-12-31")),
}


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every (command path, parser) below ``parser``, depth first."""
    for action in parser._actions:  # noqa: SLF001 - argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                path = f"{prefix} {name}".strip()
                yield path, sub
                yield from subcommands(sub, path)


def examples_epilog(examples: tuple[str, ...]) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in examples)


def apply_help(parser: argparse.ArgumentParser, extra_epilogs: dict[str, Callable[[], str]] | None = None) -> None:
    """Fill in descriptions and example epilogs from :data:`HELP` where a module set none."""
    for path, sub in subcommands(parser):
        description, examples = HELP.get(path, ("", ()))
        if not sub.description and description:
            sub.description = description
        if not sub.description:  # fall back on the one-line help the module registered
            sub.description = _registered_help(parser, path)
        if not sub.epilog and examples:
            sub.epilog = examples_epilog(examples)
        if extra_epilogs and path in extra_epilogs:
            sub.epilog_factory = extra_epilogs[path]  # type: ignore[attr-defined]


def _registered_help(parser: argparse.ArgumentParser, path: str) -> str | None:
    *parents, name = path.split()
    current = parser
    for part in parents:
        current = dict(subcommands(current))[part]
    for action in current._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for choice in action._choices_actions:  # noqa: SLF001
                if choice.dest == name and choice.help:
                    return choice.help[0].upper() + choice.help[1:] + "."
    return None
