"""The project's own ruff configuration (pyproject.toml, Airflow rules included) holds on every file."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_finds_nothing() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    executable = str(ruff) if ruff.exists() else shutil.which("ruff")
    if executable is None:
        pytest.skip("ruff is not installed in this environment (it is in the dev extra of the lock)")
    proc = subprocess.run([executable, "check", "--no-cache", str(ROOT)], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
