"""Poison isolation (issue 16): a run with unreadable file drops and a healthy CRM source loads the CRM
source completely, loads the healthy drop, rejects each poisoned file with one line of reason (recorded
with its hash, moved to the rejected folder) and reports it and every skipped path; the next run is not
held up by them."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from ingest_support import build_source, warehouse_rows

from warehouse.cli import main
from warehouse.foundation.settings import Settings

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "bad_inputs"
POISON = ("sales/nested_columns.parquet", "sales/cell_at_xfd1048576.xlsx", "sales/mixed_encodings.csv")



def test_poisoned_files_never_hold_up_the_crm_source(pipeline_settings: Settings, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    counts = build_source(pipeline_settings.source_url)
    landing = Path(pipeline_settings.landing_dir)
    for name in POISON:
        shutil.copy(CORPUS / name, landing / Path(name).name)
    (landing / "canonical").mkdir()
    shutil.copy(CORPUS / "sales" / "whitespace_and_case_codes.csv", landing / "canonical" / "good.csv")
    (landing / "readme.md").write_text("drop files here")
    (landing / "outside.csv").symlink_to(CORPUS / "sales" / "utf8_bom.csv")
    # a broken user profile: its folder's file waits untouched, and it never hides the other profiles
    pipeline_settings.profiles_dir.mkdir(parents=True)
    (pipeline_settings.profiles_dir / "broken.toml").write_text("name = 'broken'\ncolour = 'red'\n")
    (landing / "broken").mkdir()
    shutil.copy(CORPUS / "sales" / "zero_quantity.csv", landing / "broken" / "waits.csv")

    assert main(["run", "--end", "2024-06-01"]) == 0
    out = capsys.readouterr().out
    for name in POISON:
        assert f"file not loaded: {Path(name).name}: {Path(name).name}: " in out
    assert "skipped in landing: readme.md: unsupported file type .md" in out
    assert "skipped in landing: outside.csv: a symbolic link" in out
    assert "file not loaded: waits.csv: not read: profile " in out and "unknown key(s) colour" in out
    assert (landing / "broken" / "waits.csv").is_file()

    # the CRM source: every table read completely, every batch closed
    crm = warehouse_rows(pipeline_settings, "select entity, status, rows_read, rows_loaded + rows_quarantined "
                                   "from audit.load_batches where source = 'crm'")
    assert {e: (s, r, a) for e, s, r, a in crm} == {e: ("succeeded", n, n) for e, n in counts.items()}
    assert warehouse_rows(pipeline_settings, "select count(*) from audit.load_batches where status = 'running'") == [(0,)]
    # the healthy drop loaded; each poisoned one rejected with its hash, moved out of the landing folder
    files = warehouse_rows(pipeline_settings, "select file_name, status, file_sha256, error from audit.load_batches "
                                     "where source_kind = 'file' order by file_name")
    assert [(f, s) for f, s, _, _ in files] == [("cell_at_xfd1048576.xlsx", "rejected"), ("good.csv", "succeeded"),
                                                ("mixed_encodings.csv", "rejected"),
                                                ("nested_columns.parquet", "rejected")]
    for name in POISON:
        sha = hashlib.sha256((CORPUS / name).read_bytes()).hexdigest()
        row = next(r for r in files if r[0] == Path(name).name)
        assert row[2] == sha and "\n" not in row[3]
        assert (pipeline_settings.rejected_dir / Path(name).name).is_file()
        assert not (landing / Path(name).name).exists()
    assert warehouse_rows(pipeline_settings, "select count(*) from core.fct_sales_line where source = 'file:canonical'") == [(3,)]

    # the next run is not held up, and `crmwh status` shows what the landing folder holds unread
    assert main(["run", "--end", "2024-06-02"]) == 0
    capsys.readouterr()
    assert warehouse_rows(pipeline_settings, "select count(*) from audit.load_batches where source_kind = 'file'") == [(4,)]
    assert main(["status", "--limit", "50"]) == 0
    status = capsys.readouterr().out
    assert "skipped in the landing folder: readme.md: unsupported file type .md" in status
    assert "error: nested_columns.parquet: column(s) 'tags' is a list" in status
    # `crmwh ingest` never follows a symbolic link either
    link = tmp_path / "link.csv"
    link.symlink_to(CORPUS / "sales" / "utf8_bom.csv")
    assert main(["ingest", str(link)]) == 2
    assert "is a symbolic link" in capsys.readouterr().err
