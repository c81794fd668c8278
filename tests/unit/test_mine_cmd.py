"""`crmwh mine`: basket files to a rules CSV, the warehouse mode, and one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from mining_support import AS_OF, build_star

from warehouse.cli import main
from warehouse.foundation.settings import load_settings


def test_mine_basket_file_to_csv(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baskets = tmp_path / "baskets.txt"
    # A in 10 baskets, with B in 8 of them: confidence exactly 0.8
    baskets.write_text("A , B\n" * 8 + " A\n" * 2 + "B,C\n" * 5 + "\n" + "C,,D\n" * 5, encoding="utf-8")
    out = tmp_path / "out" / "rules.csv"
    code = main(["mine", "--baskets", str(baskets), "--min-support", "2", "--min-confidence", "0.8",
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "20 baskets" in printed and "blank_lines 1" in printed and "empty_items 5" in printed
    rules = pd.read_csv(out)
    row = rules[(rules["antecedent"] == "A") & (rules["consequent"] == "B")].iloc[0]
    assert (row.antecedent_count, row.consequent_count, row.both_count, row.n_baskets) == (10, 13, 8, 20)
    assert row.confidence == pytest.approx(0.8)
    assert (rules["confidence"] >= 0.8).all()
    # D -> C has confidence 1: conviction is written empty
    dc = rules[(rules["antecedent"] == "D") & (rules["consequent"] == "C")].iloc[0]
    assert pd.isna(dc.conviction)


@pytest.mark.parametrize(("args", "message"), [
    (["--baskets", "{missing}", "--out", "{out}"], "does not exist"),
    (["--baskets", "{empty}", "--out", "{out}"], "holds no baskets"),
    (["--baskets", "{good}", "--out", "{out}", "--min-support", "1.5"], "min_support must be"),
    (["--baskets", "{good}", "--out", "{out}", "--min-support", "0"], "min_support as a count must be >= 1"),
    (["--baskets", "{good}", "--out", "{out}", "--min-confidence", "2"], "min_confidence must be"),
    (["--baskets", "{good}"], "--out rules.csv is required"),
    (["--baskets", "{good}", "--out", "{out}", "--engine", "spark", "--max-consequent", "2"], "single-item"),
])
def test_mine_errors_are_one_line(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str],
                                  args: list[str], message: str) -> None:
    good = tmp_path / "good.txt"
    good.write_text("a,b\nb,c\n", encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n , \n", encoding="utf-8")
    paths = {"missing": tmp_path / "nope.txt", "empty": empty, "good": good, "out": tmp_path / "r.csv"}
    code = main(["mine", *[a.format(**paths) for a in args]])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("crmwh: error:") and message in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_mine_warehouse_mode(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CRMWH_MINING__MIN_SUPPORT", "0.02")
    monkeypatch.setenv("CRMWH_MINING__MIN_SEGMENT_BASKETS", "100")
    settings = load_settings()
    assert main(["mine"]) == 2
    assert "no warehouse" in capsys.readouterr().err
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(build_star(tmp_path / "star.duckdb"), settings.warehouse_path)
    out = tmp_path / "overall.csv"
    assert main(["mine", "--out", str(out), "--min-lift", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"as of {AS_OF}" in printed
    rules = pd.read_csv(out)
    assert len(rules) > 0 and (rules["lift"] >= 2).all()
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    assert con.execute("select count(*) from marts.cross_sell_rules").fetchall()[0][0] > 0
    con.close()
