"""Security: identifiers from file headers and table names never inject SQL; file drops stay inside the
landing folder; secrets never reach logs or `crmwh status`; every reader path opens the published file
read-only."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.errors import CrmwhError, RejectedBatchError
from warehouse.foundation.settings import Settings, load_settings
from warehouse.ingest import files as files_mod
from warehouse.ops import pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sql"))
from sample_marts import create_sample_marts  # noqa: E402

EVIL = 'a"; drop table core.fct_sales_line; --'
SECRET = "S3cret-pw_do-not-log"
JWT = "jwt-S3cret-do-not-log"


def _crmwh(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "warehouse.cli", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_a_csv_header_cannot_inject_sql(pipeline_settings: Settings, tmp_path: Path) -> None:
    drop = tmp_path / "evil.csv"
    drop.write_text(f'order_id,line_number,product_code,quantity,unit_price,order_ts,"{EVIL.replace(chr(34), 2 * chr(34))}"\n'
                    "A1,1,P1,2,3.50,2024-03-01 10:00:00,x\n"
                    "A1,2,P2,1,4.00,2024-03-01 10:00:00,y\n", encoding="utf-8")
    result = pipeline.ingest_file(pipeline_settings, drop, "canonical")
    assert result.status == "succeeded" and result.rows_read == 2 == result.rows_loaded + result.rows_quarantined
    con = duckdb.connect(str(pipeline_settings.warehouse_path), read_only=True)
    try:  # the table the header tried to drop is still there, with the loaded rows
        assert con.execute("select count(*) from core.fct_sales_line").fetchone()[0] == result.rows_loaded
        record = con.execute("select _record from raw.files__sales_lines limit 1").fetchone()[0]
        assert "drop table" in record  # the column is kept as data, never run
    finally:
        con.close()


def test_a_mart_table_name_cannot_inject_sql_into_publish(pipeline_settings: Settings) -> None:
    from warehouse.serve.publish import publish

    evil = 'x"; drop table marts.cross_sell_rules; --'
    with warehouse_writer(pipeline_settings) as con:
        create_sample_marts(con, scale=1)
        con.execute(f'create table marts."{evil.replace(chr(34), 2 * chr(34))}" as select 1 as a')
        con.execute(f"comment on table marts.\"{evil.replace(chr(34), 2 * chr(34))}\" is 'grain: one row; test'")
        try:
            manifest = publish(pipeline_settings, "evil", None, "passed", con=con)
        except CrmwhError as exc:
            manifest = None  # refusing the odd name is fine too; running it is not
            print(f"publish refused: {exc}")
        assert con.execute("select count(*) from marts.cross_sell_rules").fetchone()[0] > 0
    if manifest is None:
        assert not pipeline_settings.published_path.exists()
        return
    published = duckdb.connect(str(pipeline_settings.published_path), read_only=True)
    try:
        names = {r[0] for r in published.execute("select table_name from duckdb_tables()").fetchall()}
    finally:
        published.close()
    assert "cross_sell_rules" in names and evil in names


def test_file_drops_are_confined_to_the_landing_folder(pipeline_settings: Settings, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("order_id,product_code,quantity,unit_price,order_ts\nS1,P1,1,1.00,2024-03-01 10:00:00\n",
                       encoding="utf-8")
    landing = Path(pipeline_settings.landing_dir)
    (landing / "link.csv").symlink_to(outside)
    (landing / "canonical").mkdir(exist_ok=True)
    (landing / "canonical" / "dir_link").symlink_to(tmp_path, target_is_directory=True)
    with caplog.at_level(logging.WARNING):
        found = files_mod.scan_landing(pipeline_settings)
    assert found == []
    assert "leads outside the landing folder" in caplog.text
    for sneaky in (landing / "link.csv", landing / ".." / ".." / outside.parent.name / "outside.csv",
                   landing / "canonical" / "dir_link" / "outside.csv"):
        with pytest.raises(RejectedBatchError, match="outside the landing folder"):
            files_mod.place_in_landing(pipeline_settings, sneaky, None)
    pipeline.run(pipeline_settings, pipeline.Interval.parse(None, "2024-06-01"), include_crm=False)
    con = duckdb.connect(str(pipeline_settings.warehouse_path), read_only=True)
    try:
        assert con.execute("select count(*) from audit.load_batches").fetchone()[0] == 0
    finally:
        con.close()


def test_secrets_never_reach_logs_errors_or_status(pipeline_settings: Settings,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    url = f"postgresql+psycopg://crm:{SECRET}@127.0.0.1:9/crm"
    env = {"CRMWH_SOURCE_URL": url, "AIRFLOW__API_AUTH__JWT_SECRET": JWT}
    run = _crmwh("run", "--end", "2024-06-01", env=env)
    assert run.returncode == 2
    assert SECRET not in run.stdout + run.stderr and JWT not in run.stdout + run.stderr
    assert "crm:***@127.0.0.1" in run.stderr  # the URL is named, its password hidden
    for args in (("status",), ("status", "--json")):
        shown = _crmwh(*args, env=env)
        assert SECRET not in shown.stdout + shown.stderr and JWT not in shown.stdout + shown.stderr
    # in-process: nothing logged at any level carries the password, nor does the audit trail
    os.environ["CRMWH_SOURCE_URL"] = url
    try:
        settings = load_settings()
        with caplog.at_level(logging.DEBUG), pytest.raises(CrmwhError) as failure:
            pipeline.run(settings, pipeline.Interval.parse(None, "2024-06-01"))
    finally:
        del os.environ["CRMWH_SOURCE_URL"]
    assert SECRET not in str(failure.value) and SECRET not in caplog.text
    if settings.warehouse_path.exists():
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
        try:
            errors = " ".join(str(r) for r in con.execute("select * from audit.load_batches").fetchall())
        finally:
            con.close()
        assert SECRET not in errors


def test_every_reader_path_opens_the_published_file_read_only(pipeline_settings: Settings,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from warehouse.serve import query, report
    from warehouse.serve.publish import publish, resolved_published_path, verify_published

    with warehouse_writer(pipeline_settings) as con:
        create_sample_marts(con, scale=1)
        publish(pipeline_settings, "ro", None, "passed", con=con)
    published = {str(pipeline_settings.published_path), str(resolved_published_path(pipeline_settings))}
    opened: list[tuple[str, bool]] = []
    real_connect = duckdb.connect

    def spy(database: str = ":memory:", read_only: bool = False, *args, **kwargs):
        if str(database) in published or str(database).endswith("marts.duckdb"):
            opened.append((str(database), bool(read_only)))
        return real_connect(database, read_only, *args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", spy)
    columns, batches, con = query.run_query(pipeline_settings, "select count(*) from cross_sell_rules")
    assert [r for b in batches for r in b][0][0] > 0
    con.close()
    report.write_report(pipeline_settings)
    verify_published(pipeline_settings)
    for refused in ("create table x as select 1", "attach '/tmp/x.duckdb'", "copy cross_sell_rules to '/tmp/x.csv'"):
        with pytest.raises(CrmwhError):
            query.run_query(pipeline_settings, refused)
    assert opened, "no reader opened the published file: the spy is not in the reader path"
    assert [o for o in opened if not o[1]] == [], opened
