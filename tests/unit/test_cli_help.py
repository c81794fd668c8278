"""The CLI starts without heavy libraries, and every subcommand's help says what it does, with an example."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from warehouse.cli import build_parser
from warehouse.commands.help_texts import subcommands

HEAVY = ("pandas", "numpy", "scipy", "sklearn", "polars", "pyarrow", "great_expectations", "plotly", "mlxtend",
         "lifetimes", "airflow", "sqlalchemy", "pyspark", "rich")

PROBE = """
import contextlib, io, json, sys
from warehouse.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r})))
"""


# Help needs no settings: the settings module (pydantic-settings) loads only when a command runs.
SETTINGS_LIBRARIES = ("pydantic", "pydantic_settings")


def _imported(*argv: str, also: tuple[str, ...] = ()) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=set(HEAVY + also)), *argv],  # noqa: S603
                          capture_output=True, text=True, check=True, timeout=120)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [("--help",), ("ingest", "--help"), ("pipeline", "--help"), ("mine", "--help"),
                                  ("quarantine", "list", "--help"), ("airflow", "--help")], ids=" ".join)
def test_help_imports_no_heavy_library(argv: tuple[str, ...]) -> None:
    assert _imported(*argv, also=SETTINGS_LIBRARIES) == []


def test_status_imports_duckdb_only(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CRMWH_DATA_DIR", str(tmp_path))
    assert _imported("status") == []  # nothing to read: not even duckdb


def test_every_subcommand_says_what_it_does_with_an_example() -> None:
    parser = build_parser()
    pages = dict(subcommands(parser))
    assert {"pipeline", "run", "ingest", "status", "query", "publish", "quarantine list"} <= set(pages)
    for path, sub in pages.items():
        text = sub.format_help()
        assert sub.description and len(sub.description) > 20, path
        assert "examples:" in text and f"crmwh {path}" in text.split("examples:", 1)[1], path


def test_every_example_in_the_help_parses() -> None:
    """Each example line of every help page (and of the HELP table) is a command the parser accepts."""
    import shlex

    from warehouse.commands.help_texts import HELP

    parser = build_parser()
    lines = [ex for _, examples in HELP.values() for ex in examples]
    for _, sub in subcommands(parser):
        text = sub.format_help()
        if "examples:" in text:
            lines += [line.strip() for line in text.split("examples:", 1)[1].splitlines()
                      if line.strip().startswith("crmwh ")]
    checked = 0
    for line in lines:
        words = shlex.split(line, comments=True)
        cut = [i for i, w in enumerate(words) if w in (">", ">>", "<", "|", "&&", "2>")]
        words = words[:cut[0]] if cut else words  # the shell's redirections and pipes are not crmwh's
        if not words or words[0] != "crmwh" or "$(" in line or words[1:2] == ["airflow"]:
            continue  # shell around the command, or Airflow's own CLI after `crmwh airflow`
        try:
            parser.parse_args(words[1:])
        except SystemExit as exc:  # argparse's way of refusing
            raise AssertionError(f"help example does not parse: {line!r}") from exc
        checked += 1
    assert checked > 30


def test_ingest_help_lists_the_profiles() -> None:
    from warehouse.ingest.profiles import available_profiles

    text = dict(subcommands(build_parser()))["ingest"].format_help()
    profiles = text.split("profiles:", 1)[1].splitlines()[0]
    assert available_profiles() and all(name in profiles for name in available_profiles())


def test_pipeline_help_lists_the_declared_steps() -> None:
    from warehouse.ops.job import STEP_NAMES

    text = dict(subcommands(build_parser()))["pipeline"].format_help()
    assert " ".join(text.split("steps:", 1)[1].split()).startswith(", ".join(STEP_NAMES))
