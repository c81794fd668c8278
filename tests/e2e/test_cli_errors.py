"""Every failure path of issue 16 ends with one clear line and exit 2, never a traceback: real DuckDB
files, real ``crmwh`` subprocesses (the exit code and stderr are the behaviour)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_support import (
    assert_one_line_error,
    crmwh_env,
    mount_namespace_prefix,
    read_only_wrap,
    run_crmwh,
    tmpfs_wrap,
)

from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.settings import Settings, load_settings
from warehouse.serve.publish import publish

HERE = Path(__file__).resolve().parent


def _sample_marts():
    spec = importlib.util.spec_from_file_location("sample_marts", HERE.parent / "sql" / "sample_marts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _settings(data_dir: Path) -> Settings:
    return load_settings({"CRMWH_DATA_DIR": str(data_dir)})


def _canonical_csv(path: Path, lines: int) -> Path:
    rows = ["order_id,line_number,product_code,description,quantity,unit_price,order_ts,customer_id"]
    rows += [f"F{i // 4},{i % 4 + 1},P{i % 50:03d},Product {i % 50},{i % 7 + 1},{(i % 30) + 0.5},"
             f"2025-11-{i % 28 + 1:02d} 10:00:00,C{i % 300}" for i in range(lines)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with a working warehouse (a few marts) and one published version."""
    data_dir = tmp_path_factory.mktemp("seeded") / "data"
    settings = _settings(data_dir)
    settings.ensure_dirs()
    with warehouse_writer(settings) as con:
        _sample_marts().create_sample_marts(con)
        publish(settings, "seed", None, "passed", con=con)
        con.execute("checkpoint")  # everything in the file itself, as after a finished run
    return data_dir


@pytest.fixture
def copy_of(seeded: Path, tmp_path: Path):
    def make() -> Path:
        target = tmp_path / "data"
        shutil.copytree(seeded, target, symlinks=True)
        return target
    return make


def test_status_limit_must_be_positive(tmp_path: Path) -> None:
    ran = run_crmwh(["status", "--limit", "-1"], tmp_path / "data")
    assert ran.code == 2 and "Traceback" not in ran.err
    assert "--limit: expected a whole number >= 1, not '-1'" in ran.err


def test_mine_rejects_an_implausible_as_of_and_an_infinite_lift(seeded: Path) -> None:
    ran = run_crmwh(["mine", "--as-of", "0001-01-01"], seeded)
    assert_one_line_error(ran, "--as-of 0001-01-01 is before the earliest plausible date 2000-01-01")
    ran = run_crmwh(["mine", "--min-lift", "inf"], seeded)
    assert ran.code == 2 and "Traceback" not in ran.err and "expected a finite number, not 'inf'" in ran.err


def test_latin1_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "crmwh.toml"
    config.write_bytes('data_dir = "/srv/café"\n'.encode("latin-1"))
    ran = run_crmwh(["status"], tmp_path / "data", CRMWH_CONFIG=str(config))
    assert_one_line_error(ran, str(config), "is not UTF-8", "byte 0xe9")


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "not_a_dir"
    afile.write_text("x")
    for command in (["status"], ["run", "--no-crm"]):
        assert_one_line_error(run_crmwh(command, afile), f"the data directory {afile} is a file")


def test_status_on_an_empty_data_directory_names_where_it_looked(tmp_path: Path) -> None:
    ran = run_crmwh(["status"], tmp_path / "nowhere")
    assert ran.code == 0
    assert f"data directory {tmp_path / 'nowhere'}" in ran.out and "crmwh pipeline" in ran.out
    json_ran = run_crmwh(["status", "--json"], tmp_path / "nowhere")
    assert json_ran.code == 0 and json_ran.out == "[]\n"  # one document: an empty array


HOLD_WRITER = """
import sys, time
from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.settings import get_settings
with warehouse_writer(get_settings()):
    print("holding", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def test_read_commands_during_a_run_say_busy_and_who_holds_it(seeded: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITER, "30"], stdout=subprocess.PIPE, text=True,  # noqa: S603
                              env=crmwh_env(seeded))
    try:
        assert holder.stdout.readline().strip() == "holding"
        for command in (["status"], ["quarantine", "list"]):
            line = assert_one_line_error(run_crmwh(command, seeded), "is in use", f"process {holder.pid}",
                                         "try again when that run finishes")
            assert "corrupt" not in line
        ran = run_crmwh(["run", "--no-crm"], seeded, CRMWH_LOCK_TIMEOUT_S="0.5")
        assert_one_line_error(ran, "another pipeline run is writing the warehouse", f"process {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    assert run_crmwh(["status"], seeded).code == 0  # the lock went with the process


def _truncate(path: Path, keep: int) -> None:
    real = Path(os.path.realpath(path))
    real.chmod(0o644)
    data = real.read_bytes()
    real.write_bytes(data[:keep])


def test_truncated_warehouse_is_named_corrupt_with_what_to_do(copy_of) -> None:
    data_dir = copy_of()
    warehouse = data_dir / "warehouse" / "crm.duckdb"
    _truncate(warehouse, warehouse.stat().st_size // 2)
    for command in (["status"], ["quarantine", "list"], ["run", "--no-crm"]):
        line = assert_one_line_error(run_crmwh(command, data_dir), f"the working warehouse {warehouse} is corrupt",
                                     "restore it from a backup", "crmwh pipeline")
        assert "while a pipeline run writes" not in line and "in use" not in line


def test_truncated_published_file_is_named_corrupt(copy_of) -> None:
    data_dir = copy_of()
    _truncate(data_dir / "published" / "marts.duckdb", 4096)
    for command in (["query", "select 1"], ["publish", "--verify-only"], ["report"]):
        assert_one_line_error(run_crmwh(command, data_dir), "the published file", "is corrupt", "crmwh publish")
    # publishing again from the warehouse is the cure the message names
    assert run_crmwh(["publish"], data_dir).code == 0
    assert run_crmwh(["publish", "--verify-only"], data_dir).code == 0


def test_truncated_published_parquet_is_named_corrupt(copy_of) -> None:
    data_dir = copy_of()
    _truncate(data_dir / "published" / "parquet" / "cohort_retention.parquet", 100)
    assert_one_line_error(run_crmwh(["publish", "--verify-only"], data_dir),
                          "corrupt parquet file(s): cohort_retention.parquet", "crmwh publish")


def test_query_timeout_interrupts_a_long_statement(seeded: Path) -> None:
    started = time.monotonic()
    ran = run_crmwh(["query", "select count(*) from range(1000000000000)", "--timeout", "0.5"], seeded)
    assert_one_line_error(ran, "query stopped after 0.5s", "--timeout")
    assert time.monotonic() - started < 30
    ran = run_crmwh(["query", "select count(*) from range(1000000000000)"], seeded,
                    CRMWH_PUBLISH__QUERY_TIMEOUT_S="0.5")  # the default comes from the settings
    assert_one_line_error(ran, "query stopped after 0.5s")


needs_namespaces = pytest.mark.skipif(
    mount_namespace_prefix() is None,
    reason="cannot make a private mount namespace here (unshare -m / -rm refused): read-only and full-disk "
           "mounts are not simulated")


@needs_namespaces
def test_read_only_data_directory(copy_of, tmp_path: Path) -> None:
    data_dir = copy_of()
    drop = _canonical_csv(tmp_path / "drop.csv", 10)
    wrap = read_only_wrap(data_dir)
    for command in (["run", "--no-crm"], ["ingest", str(drop)], ["publish"]):
        assert_one_line_error(run_crmwh(command, data_dir, wrap=wrap), "cannot write", "read-only file system",
                              "need a writable data directory")
    ran = run_crmwh(["status"], data_dir, wrap=wrap)  # reading still works
    assert ran.code == 0, ran.err


@needs_namespaces
def test_full_disk_during_a_duckdb_write_and_a_publish(copy_of, tmp_path: Path) -> None:
    seed = copy_of()
    _canonical_csv(seed / "landing" / "big.csv", 40_000)  # raw lines to write: a few MB in DuckDB
    used = sum(p.stat().st_size for p in seed.rglob("*") if p.is_file() and not p.is_symlink())
    disk = tmp_path / "small_disk"
    disk.mkdir()
    wrap = tmpfs_wrap(disk, f"{used // 1024 + 600}k", seed_from=seed)
    line = assert_one_line_error(run_crmwh(["run", "--no-crm"], disk, wrap=wrap), "no space left")
    assert "free disk space" in line
    wrap = tmpfs_wrap(disk, f"{used // 1024 + 150}k", seed_from=seed)
    assert_one_line_error(run_crmwh(["publish"], disk, wrap=wrap), "no space left",
                          "the published version stays as it was")


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(monkeypatch, capsys, data_dir: Path) -> None:
    from warehouse.cli import main
    from warehouse.commands import ingest_cmd

    def broken(*_args, **_kwargs):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(ingest_cmd, "recent_batches", broken)
    assert main(["status"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected error (a bug" in err and "something nobody expected" in err
    assert "--debug" in err and "Traceback" not in err
    assert main(["--debug", "status"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("for the traceback)")
    monkeypatch.setenv("CRMWH_DEBUG", "1")
    assert main(["status"]) == 3
    assert "Traceback" in capsys.readouterr().err
