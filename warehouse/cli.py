"""The ``crmwh`` command line: thin wiring over the project's functions.

Each area registers its own subcommands from a module in ``warehouse.commands``; this file only
assembles them and turns every failure into one clear line on stderr with a non-zero exit code
(``--debug`` or ``CRMWH_DEBUG=1`` shows the traceback instead).

Exit codes: 0 success; 1 the command ran and reports a failed outcome (e.g. a rejected file);
2 a known error (bad input, bad settings, a busy, corrupt or unwritable file); 3 an unexpected error
(a bug: please report it with the ``--debug`` output); 130 interrupted.

Start-up is kept fast: only the standard library is imported until a command's handler runs, and each
handler imports the heavy libraries it needs (pandas, polars, pyarrow, Great Expectations, Airflow ...).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import textwrap
import traceback
from collections.abc import Sequence

from warehouse.foundation.errors import CrmwhError, original_error

# One module per area; each defines ``register(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "warehouse.commands.pipeline_cmd",
    "warehouse.commands.airflow_cmd",
    "warehouse.commands.publish_cmd",
    "warehouse.commands.mine_cmd",
    "warehouse.commands.evaluate_cmd",
    "warehouse.commands.churn_cmd",
    "warehouse.commands.ingest_cmd",
    "warehouse.commands.quarantine_cmd",
    "warehouse.commands.docs_cmd",
    "warehouse.commands.demo_cmd",
    "warehouse.commands.care_cmd",
    "warehouse.commands.profile_cmd",
)

DEBUG_ENV = "CRMWH_DEBUG"
EXIT_FAILED_OUTCOME, EXIT_ERROR, EXIT_BUG, EXIT_INTERRUPTED = 1, 2, 3, 130


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose paragraphs; keeps indented lines (examples) and ``examples:`` blocks as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for paragraph in text.split("\n\n"):
            lines = paragraph.splitlines()
            if any(line.startswith(" ") for line in lines) or paragraph.startswith(("examples:", "profiles:")):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(textwrap.fill(" ".join(lines), width, initial_indent=indent, subsequent_indent=indent))
        return "\n\n".join(out)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help can end with text computed only when help is shown."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - argparse's own signature
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def format_help(self) -> str:
        factory = getattr(self, "epilog_factory", None)
        if factory is None:
            return super().format_help()
        saved = self.epilog
        try:
            self.epilog = "\n\n".join(p for p in (saved, factory()) if p)
            return super().format_help()
        finally:
            self.epilog = saved


def _profiles_epilog() -> str:
    try:
        from warehouse.ingest.profiles import available_profiles

        names = available_profiles()
    except Exception as exc:  # noqa: BLE001 - help must always print
        return f"profiles: (cannot list them: {exc})"
    return ("profiles: " + ", ".join(names) + "\n  without --profile, a file in landing/<profile>/ uses that profile;"
            "\n  otherwise the first profile whose required columns are all in the file's header")


def build_parser() -> argparse.ArgumentParser:
    from warehouse.commands.help_texts import apply_help

    parser = Parser(
        prog="crmwh", description="The analytical warehouse of a CRM: load, validate, mine, score and publish.",
        epilog="Run `crmwh COMMAND --help` for what a command does, with examples. Settings: crmwh.toml or "
               "CRMWH_* variables (CRMWH_DATA_DIR: the data directory, ./data by default).")
    parser.add_argument("--debug", action="store_true",
                        help=f"show the full traceback of an error (or set {DEBUG_ENV}=1)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    apply_help(parser, {"ingest": _profiles_epilog})
    return parser


def _debug_wanted(args: argparse.Namespace | None) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes"}


def _check_data_dir() -> None:
    from warehouse.foundation.settings import SettingsError, get_settings

    settings = get_settings()
    if settings.data_dir.exists() and not settings.data_dir.is_dir():
        raise SettingsError(f"the data directory {settings.data_dir} is a file, not a directory: point "
                            "CRMWH_DATA_DIR (or data_dir in crmwh.toml) at a directory")


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The one line and exit code of a failure: every known kind of error, then anything else."""
    exc = original_error(exc)
    # the settings module (pydantic-settings) is not imported for --help: a SettingsError needs it loaded
    settings_module = sys.modules.get("warehouse.foundation.settings")
    known = (CrmwhError, settings_module.SettingsError) if settings_module is not None else (CrmwhError,)
    if isinstance(exc, known):
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, EXIT_ERROR
    if isinstance(exc, OSError):
        from warehouse.foundation.db import os_failure

        if exc.errno == errno.EPIPE:
            return "output closed early", EXIT_ERROR
        return str(os_failure(exc)), EXIT_ERROR
    if type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        from warehouse.foundation.db import duckdb_failure

        return str(duckdb_failure(exc, None, "unknown")), EXIT_ERROR
    if isinstance(exc, UnicodeDecodeError):
        return f"cannot read text as UTF-8: {exc}", EXIT_ERROR
    if isinstance(exc, OverflowError):
        return f"a date or number is out of range: {exc}", EXIT_ERROR
    if isinstance(exc, MemoryError):
        return "out of memory", EXIT_ERROR
    text = str(exc).strip().splitlines()
    return (f"unexpected error (a bug, please report it): {type(exc).__name__}: {text[0] if text else ''} "
            f"(run again with --debug or {DEBUG_ENV}=1 for the traceback)"), EXIT_BUG


def main(argv: Sequence[str] | None = None) -> int:
    args: argparse.Namespace | None = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        _check_data_dir()
        result = args.handler(args)
    except KeyboardInterrupt:
        print("crmwh: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the one place every failure becomes one line
        if _debug_wanted(args):
            traceback.print_exc()
        message, code = describe_error(exc)
        print(f"crmwh: error: {message}", file=sys.stderr)
        return code
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
