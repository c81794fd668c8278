"""``crmwh demo generate|advance`` through the command line: output, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from warehouse.cli import main
from warehouse.foundation.settings import load_settings


def test_generate_advance_and_clear_errors(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    settings = load_settings()
    assert main(["demo", "generate", "--scale", "small", "--seed", "9"]) == 0
    out = capsys.readouterr().out
    assert "generated the retail demo source (scale small, seed 9" in out and "order_lines" in out
    assert json.loads(settings.ground_truth_path.read_text(encoding="utf-8"))["seed"] == 9

    assert main(["demo", "generate", "--scale", "small"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("crmwh: error: a source already exists") and "--force" in err and "\n" not in err

    assert main(["demo", "advance", "--days", "2"]) == 0
    out = capsys.readouterr().out
    assert "advanced the demo business from 2025-12-31 23:59:59 to 2026-01-02 23:59:59" in out

    other = tmp_path / "other.sqlite"
    assert main(["demo", "generate", "--url", f"sqlite:///{other}", "--profile", "services",
                 "--end-date", "2025-06-30", "--seed", "3"]) == 0
    capsys.readouterr()
    truth_files = sorted(p.name for p in settings.source_dir.glob("ground_truth*.json"))
    assert len(truth_files) == 2  # the default source's file is left alone
    assert json.loads(settings.ground_truth_path.read_text(encoding="utf-8"))["seed"] == 9

    assert main(["demo", "generate", "--end-date", "2025-02-30", "--force"]) == 2
    assert "invalid date '2025-02-30'" in capsys.readouterr().err
    assert main(["demo", "advance", "--days", "0"]) == 2
    assert "--days must be between 1 and 366" in capsys.readouterr().err
    assert main(["demo", "advance", "--days", "1", "--url", f"sqlite:///{tmp_path / 'none.sqlite'}"]) == 2
    assert "not a demo source" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()
