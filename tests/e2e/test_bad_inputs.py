"""The bad-input corpus (tests/fixtures/bad_inputs): every defect ends in quarantine with the right rule
and reason, or in a rejected / refused batch with a clear error; the accounting holds for every file."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

import duckdb
import pytest
from validation_support import reference_data, write_raw_crm_batch

from warehouse.foundation.errors import CriticalValidationError, CrmwhError, RejectedBatchError
from warehouse.foundation.settings import Settings

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "bad_inputs"
CASES: list[dict[str, Any]] = tomllib.loads((CORPUS / "manifest.toml").read_text(encoding="utf-8"))["case"]

try:  # the ETL's entry point for file drops
    from warehouse.ops.pipeline import ingest_file
    _INGEST_MISSING = None
except ImportError as exc:  # pragma: no cover - only while the ETL area has not landed
    ingest_file = None
    _INGEST_MISSING = f"warehouse.ops.pipeline.ingest_file is not importable yet ({exc})"


def test_corpus_covers_at_least_25_distinct_defects() -> None:
    defects = {c["defect"] for c in CASES}
    assert len(defects) == len(CASES) >= 25
    for case in CASES:
        assert (CORPUS / case["file"]).is_file(), case["file"]
        assert case["outcome"] in ("loaded", "rejected", "critical", "superseded", "error", "skipped")
        assert case["via"] in ("ingest", "staged", "baskets", "landing", "fault")
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*")
               if p.is_file() and p.suffix in (".csv", ".xlsx", ".xls", ".parquet", ".txt", ".md")}
    used = {c["file"] for c in CASES} | {b["file"] for c in CASES for b in c.get("before", [])}
    assert on_disk == used, "every fixture file has a manifest entry"


def _value(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    row = con.execute(sql).fetchone()
    return "None" if row is None else str(row[0])


def _check_quarantine(con: duckdb.DuckDBPyConnection, table: str, batch_id: str, case: dict[str, Any]) -> None:
    exists = con.execute("select count(*) from duckdb_tables() where schema_name = 'quarantine' and table_name = ?",
                         [table]).fetchone()[0]
    got = {} if not exists else {r[0]: (sorted(r[1]), r[2]) for r in con.execute(
        f"select _source_row, rules, reason from quarantine.{table} where _batch_id = ?", [batch_id]).fetchall()}
    want = {q["row"]: q for q in case.get("quarantined", [])}
    assert sorted(got) == sorted(want), f"quarantined rows {sorted(got)} != {sorted(want)}: {got}"
    for row, q in want.items():
        rules, reason = got[row]
        assert rules == sorted(q["rules"]), f"row {row}: rules {rules}"
        assert q["reason"] in reason, f"row {row}: reason {reason!r}"
    failed_warnings = sorted(r[0] for r in con.execute(
        "select rule from audit.validation_results where batch_id = ? and severity = 'warning' and not success "
        "and rule <> 'great_expectations_run'", [batch_id]).fetchall())
    assert failed_warnings == sorted(case.get("warnings", []))
    for check in case.get("checks", []):
        assert _value(con, check["sql"]) == check["expect"], check["sql"]


def _params(via: str) -> list[Any]:
    return [pytest.param(c, id=c["file"], marks=[pytest.mark.xfail(reason=c["known_issue"], strict=False)]
                         if c.get("known_issue") else []) for c in CASES if c["via"] == via]


def _ingest_before(case: dict[str, Any], settings: Settings) -> None:
    if case.get("rates"):
        settings.rates_path.parent.mkdir(parents=True, exist_ok=True)
        settings.rates_path.write_text(case["rates"], encoding="utf-8")
    for before in case.get("before", []):
        assert ingest_file(settings, CORPUS / before["file"], before.get("profile")).status == "succeeded"


@pytest.mark.parametrize("case", _params("ingest"))
def test_file_drop_defect(case: dict[str, Any], pipeline_settings: Settings) -> None:
    if ingest_file is None:
        pytest.skip(_INGEST_MISSING)
    path = CORPUS / case["file"]
    _ingest_before(case, pipeline_settings)
    if case["outcome"] == "rejected":
        with pytest.raises(RejectedBatchError, match=None) as info:
            ingest_file(pipeline_settings, path, case.get("profile"))
        assert case["error"] in str(info.value)
        assert "\n" not in str(info.value)  # one line of reason
        # the landing folder's copy went to the rejected folder, registered with its hash (it can be retried)
        assert (pipeline_settings.rejected_dir / path.name).is_file()
        assert not (pipeline_settings.landing_dir / path.name).exists()
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        con = duckdb.connect(str(pipeline_settings.warehouse_path), read_only=True)
        try:
            status = con.execute("select status, rows_loaded, file_sha256 from audit.load_batches").fetchall()
            assert status == [("rejected", 0, sha)]
            assert con.execute("select status from audit.file_registry where sha256 = ?", [sha]).fetchall() == [
                ("rejected",)]
            staged = con.execute("select count(*) from duckdb_tables() where schema_name in ('staging', 'core') "
                                 "and estimated_size > 0").fetchone()[0]
            assert staged == 0
        finally:
            con.close()
        return
    result = ingest_file(pipeline_settings, path, case.get("profile"))
    if case["outcome"] == "superseded":
        assert result.status == "superseded" and case["error"] in " ".join(result.notes), result
        con = duckdb.connect(str(pipeline_settings.warehouse_path), read_only=True)
        try:
            for check in case.get("checks", []):
                assert _value(con, check["sql"]) == check["expect"], check["sql"]
        finally:
            con.close()
        return
    assert result.status == "succeeded", result
    assert result.rows_read == case["rows_read"]
    assert result.rows_read == result.rows_loaded + result.rows_quarantined
    assert result.rows_quarantined == len(case.get("quarantined", []))
    assert result.rows_blank == case.get("rows_blank", 0)
    con = duckdb.connect(str(pipeline_settings.warehouse_path), read_only=True)
    try:
        # every loaded line is in core (a line equal to one loaded before keeps its earlier batch id)
        loaded = con.execute("select count(*) from core.fct_sales_line where sales_line_id in (select sales_line_id "
                             "from staging.stg_files__sales_lines where _batch_id = ?)", [result.batch_id]).fetchone()[0]
        assert loaded == result.rows_loaded
        assert con.execute("select rows_blank from audit.load_batches where batch_id = ?",
                           [result.batch_id]).fetchone()[0] == case.get("rows_blank", 0)
        _check_quarantine(con, "stg_files__sales_lines", result.batch_id, case)
    finally:
        con.close()


@pytest.mark.parametrize("case", _params("baskets"))
def test_basket_file_defect(case: dict[str, Any], settings: Settings) -> None:
    from transforms.baskets import read_basket_file

    limits = settings.files
    with pytest.raises(CrmwhError) as info:
        read_basket_file(CORPUS / case["file"], max_items=limits.max_basket_items,
                         max_line_bytes=limits.max_line_bytes, max_file_bytes=limits.max_file_bytes)
    assert case["error"] in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("case", _params("landing"))
def test_landing_folder_defect(case: dict[str, Any], pipeline_settings: Settings) -> None:
    from warehouse.ops import pipeline

    source = CORPUS / case["file"]
    landing = Path(pipeline_settings.landing_dir)
    target = landing / source.name
    if case.get("link"):
        target.symlink_to(source)
    else:
        target.write_bytes(source.read_bytes())
    summary = pipeline.run(pipeline_settings, pipeline.Interval.parse(None, "2024-06-01"), include_crm=False)
    assert summary.batch_ids == []
    assert [(s.path, case["reason"] in s.reason) for s in summary.skipped] == [(source.name, True)]
    con = duckdb.connect(str(pipeline_settings.warehouse_path), read_only=True)
    try:
        recorded = con.execute("select path, reason from audit.skipped_files").fetchall()
        assert len(recorded) == 1 and recorded[0][0] == source.name and case["reason"] in recorded[0][1]
        assert con.execute("select count(*) from audit.load_batches").fetchone()[0] == 0
    finally:
        con.close()


@pytest.mark.parametrize("case", _params("fault"))
def test_fault_while_ingesting(case: dict[str, Any], pipeline_settings: Settings,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import shutil

    from warehouse.ops import pipeline

    assert case["fault"] == "disk_full"

    def half_then_full(src, dst, length=0):  # noqa: ANN001 - shutil.copyfileobj's signature
        dst.write(src.read(max(1, len(CORPUS.joinpath(case["file"]).read_bytes()) // 2)))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", half_then_full)
    with pytest.raises(CrmwhError) as info:
        ingest_file(pipeline_settings, CORPUS / case["file"])
    assert case["error"] in str(info.value)
    monkeypatch.undo()
    landing = Path(pipeline_settings.landing_dir)
    assert [p for p in landing.rglob("*") if p.is_file()] == []  # no partial copy left under any name
    summary = pipeline.run(pipeline_settings, pipeline.Interval.parse(None, "2024-06-01"), include_crm=False)
    assert summary.batch_ids == [] and summary.rows_read == 0


# --- CRM entities: raw.crm__<entity> -> the ETL's staging SQL -> validate_staged -----------------------
def _stage_csv(con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, entity: str) -> tuple[str, int]:
    from warehouse.ingest.staging import stage_batches

    batch_id = f"crm.{entity}.{path.stem}"
    n = write_raw_crm_batch(con, str(path), entity, batch_id)
    stage_batches(con, settings, [batch_id])
    return batch_id, n


@pytest.mark.parametrize("case", _params("staged"))
def test_crm_entity_defect(case: dict[str, Any], pipeline_settings: Settings) -> None:
    from warehouse.foundation.db import transaction, warehouse_writer
    from warehouse.ingest.quarantine import quarantined_count
    from warehouse.quality.validation import validate_staged

    table = f"stg_crm__{case['entity']}"
    with warehouse_writer(pipeline_settings) as con:
        reference_data(con)
        for before in case.get("before", []):
            batch, _ = _stage_csv(con, pipeline_settings, CORPUS / before["file"], before["entity"])
            with transaction(con):
                validate_staged(con, pipeline_settings, f"stg_crm__{before['entity']}", batch)
        batch_id, read = _stage_csv(con, pipeline_settings, CORPUS / case["file"], case["entity"])
        assert read == case["rows_read"]
        if case["outcome"] == "critical":
            with pytest.raises(CriticalValidationError) as info, transaction(con):
                validate_staged(con, pipeline_settings, table, batch_id)
            assert case["error"] in str(info.value)
            assert quarantined_count(con, table, batch_id) == 0
            staged = con.execute(f"select count(*) from staging.{table} where _batch_id = ?", [batch_id]).fetchone()[0]
            assert staged == read  # nothing moved: the whole batch waits, refused
            failed = con.execute("select rule from audit.validation_results where batch_id = ? and not success "
                                 "and severity = 'critical'", [batch_id]).fetchall()
            assert failed == [(case["error"],)]
            return
        with transaction(con):
            outcome = validate_staged(con, pipeline_settings, table, batch_id)
        staged = con.execute(f"select count(*) from staging.{table} where _batch_id = ?", [batch_id]).fetchone()[0]
        assert outcome.rows_checked == read
        assert staged + quarantined_count(con, table, batch_id) == read
        assert outcome.rows_quarantined == len(case.get("quarantined", []))
        _check_quarantine(con, table, batch_id, case)
