"""Publishing the marts: versions, atomic swap, dictionary, manifest, refusal and the PII guard."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from sample_marts import MARTS_SQL, create_sample_marts

from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.errors import CriticalValidationError, CrmwhError
from warehouse.foundation.settings import Settings
from warehouse.quality.validation_status import validation_status_from_audit
from warehouse.serve.publish import (
    PiiLeakError,
    PublishError,
    list_versions,
    publish,
    read_manifest,
    split_table_comment,
)


def _publish_sample(settings: Settings, run_id: str = "run-1", scale: int = 1, **kwargs):
    with warehouse_writer(settings) as con:
        counts = create_sample_marts(con, scale=scale)
        manifest = publish(settings, run_id, con=con, validation_status="passed", **kwargs)
    return counts, manifest


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(os.path.realpath(path)).read_bytes()).hexdigest()


def test_publish_writes_every_mart_with_dictionary_and_manifest(settings: Settings) -> None:
    interval = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
    counts, manifest = _publish_sample(settings, "manual__2026-11-02T00:00:00+00:00", data_interval=interval)

    assert settings.published_path.is_symlink() and settings.published_path.exists()
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        assert tables == set(counts) | {"data_dictionary", "publish_manifest"}
        for table, n in counts.items():
            assert con.execute(f"select count(*) from marts.{table}").fetchone()[0] == n
            assert manifest.row_counts[table] == n
        rows = con.execute(
            "select table_name, row_count, run_id, validation_status, data_interval_start, data_interval_end "
            "from marts.publish_manifest").fetchall()
        assert {r[0]: r[1] for r in rows} == manifest.row_counts
        assert {r[2] for r in rows} == {"manual__2026-11-02T00:00:00+00:00"}
        assert {r[3] for r in rows} == {"passed"}
        assert {(r[4], r[5]) for r in rows} == {(datetime(2026, 11, 1), datetime(2026, 11, 2))}
        for table, n in manifest.row_counts.items():  # the manifest's own counts are true too
            assert con.execute(f"select count(*) from {table}").fetchone()[0] == n

        dictionary = con.execute(
            "select table_name, column_name, data_type, description, grain from marts.data_dictionary").fetchall()
        published_columns = con.execute(
            "select table_name, column_name, data_type from duckdb_columns() "
            "where database_name = current_database() and schema_name = 'main'").fetchall()
        assert {(t, c, d) for t, c, d, _, _ in dictionary} == set(published_columns)
        by_key = {(t, c): (desc, grain) for t, c, _, desc, grain in dictionary}
        for table, (_, table_comment, column_comments) in MARTS_SQL.items():
            grain, _ = split_table_comment(table_comment)
            for column, text in column_comments.items():
                assert by_key[(table, column)] == (text, grain)
        assert all(desc for desc, _ in by_key.values()), "publish's own tables are described too"
        # comments travel with the tables into the published file (BI tools show them)
        (comment,) = con.execute(
            "select comment from duckdb_tables() where table_name = 'cohort_retention'").fetchone()
        assert comment == MARTS_SQL["cohort_retention"][1]
    finally:
        con.close()

    for table, n in manifest.row_counts.items():
        assert pq.read_metadata(settings.parquet_dir / f"{table}.parquet").num_rows == n
        assert (settings.parquet_dir / f"{table}.parquet").stat().st_mode & 0o777 == 0o444
    assert settings.published_path.stat().st_mode & 0o777 == 0o444  # read-only on disk as well
    kv = pq.read_metadata(settings.parquet_dir / "cohort_retention.parquet").metadata
    assert kv[b"crmwh.table_comment"].decode() == MARTS_SQL["cohort_retention"][1]
    assert json.loads(kv[b"crmwh.column_comments"]) == MARTS_SQL["cohort_retention"][2]
    assert kv[b"crmwh.run_id"].decode() == "manual__2026-11-02T00:00:00+00:00"
    assert read_manifest(settings) == manifest
    assert manifest.warnings == ()


def test_every_publish_is_a_new_version_and_old_ones_are_pruned(data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("CRMWH_PUBLISH__KEEP_VERSIONS", "2")
    from warehouse.foundation.settings import load_settings

    settings = load_settings()
    counts1, first = _publish_sample(settings, "run-1", scale=1)
    reader = duckdb.connect(str(Path(os.path.realpath(settings.published_path))), read_only=True)
    try:
        manifests = [first]
        for i in range(2, 6):
            manifests.append(_publish_sample(settings, f"run-{i}", scale=i)[1])
        versions = list_versions(settings)
        assert [v.name for v in versions] == [m.version for m in manifests[-3:]]  # current + 2 kept
        assert read_manifest(settings).run_id == "run-5"
        # a reader that opened the first version keeps reading it, pruned or not
        assert reader.execute("select count(*) from customer_retention").fetchone()[0] == counts1["customer_retention"]
        assert reader.execute("select distinct run_id from publish_manifest").fetchall() == [("run-1",)]
    finally:
        reader.close()
    con = duckdb.connect(str(Path(os.path.realpath(settings.published_path))), read_only=True)
    try:
        assert con.execute("select distinct run_id from publish_manifest").fetchall() == [("run-5",)]
    finally:
        con.close()


def test_failed_validation_is_refused_and_the_published_version_stays(settings: Settings) -> None:
    _, manifest = _publish_sample(settings, "good-run")
    before = (_digest(settings.published_path), [p.name for p in list_versions(settings)])
    with warehouse_writer(settings) as con:
        create_sample_marts(con, scale=7)
        with pytest.raises(CriticalValidationError, match="validation status is 'failed'.*good-run"):
            publish(settings, "bad-run", None, "failed", con=con)
        with pytest.raises(PublishError, match="unknown validation status"):
            publish(settings, "odd-run", None, "mostly fine", con=con)
    assert read_manifest(settings) == manifest
    assert (_digest(settings.published_path), [p.name for p in list_versions(settings)]) == before
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        assert con.execute("select distinct run_id from marts.publish_manifest").fetchall() == [("good-run",)]
    finally:
        con.close()


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        ("create or replace table marts.customer_contacts as select 'C000001' as customer_id, "
         "'someone@example.com' as note", r"customer_contacts\.note: 1 value\(s\) contain an e-mail"),
        ("create or replace table marts.customer_contacts as select 'C000001' as customer_id, "
         "'+44 20 7946 0958' as contact", r"customer_contacts\.contact: 1 value\(s\) look like phone"),
        ("create or replace table marts.customer_contacts as select 'C000001' as customer_id, "
         "'(555) 123-4567' as reached_at", r"customer_contacts\.reached_at: 1 value\(s\) look like phone"),
        ("create or replace table marts.customer_contacts as select 'C000001' as customer_id, "
         "'13812345678' as mobile_no", r"customer_contacts\.mobile_no: column name"),
        ("create or replace table marts.customer_contacts as select 'C000001' as customer_id, "
         "'x' as customer_name", r"customer_contacts\.customer_name: column name"),
        ("create or replace table marts.customer_contacts as select 'C000001' as customer_id, "
         "['ok', 'a.b@shop.example.org'] as tags", r"customer_contacts\.tags: 1 list value\(s\) contain an e-mail"),
        ("create or replace table marts.customer_contacts as select 'C000001' as customer_id, "
         "'Ada Lovelace' as owner", r"customer_contacts\.owner: 1 value\(s\) equal a customer"),
    ],
)
def test_pii_guard_refuses_names_emails_and_phones(settings: Settings, plant: str, expected: str) -> None:
    _, manifest = _publish_sample(settings, "clean-run")
    with warehouse_writer(settings) as con:
        con.execute("create schema if not exists core")
        con.execute("create or replace table core.dim_customer as "
                    "select 'C000001' as customer_id, 'Ada Lovelace' as name, 'ada@example.com' as email, "
                    "'+1 555 0100 200' as phone")
        con.execute(plant)
        with pytest.raises(PiiLeakError, match=expected) as caught:
            publish(settings, "leaky-run", None, "passed", con=con)
    assert "Ada Lovelace" not in str(caught.value) and "example" not in str(caught.value)  # never echo PII
    assert isinstance(caught.value, CrmwhError)
    assert read_manifest(settings) == manifest
    assert not any(p.name.startswith(".building") for p in (settings.published_dir / "versions").iterdir())


def test_pii_guard_lets_ordinary_mart_values_through(settings: Settings) -> None:
    with warehouse_writer(settings) as con:
        create_sample_marts(con)
        con.execute("create schema if not exists core")
        con.execute("create or replace table core.dim_customer as select 'C000001' as customer_id, "
                    "'Ada Lovelace' as name, 'ada@example.com' as email, '+1 555 0100 200' as phone")
        con.execute(
            "create or replace table marts.channel_mix as select 'C000001' as customer_id, 0.4 as phone_share, "
            "3 as email_contacts, '2025-01-01 - 2025-03-31' as window_label, '536365' as order_id, "
            "'online_retail:12345' as other_id, '85123A' as product_code, 'Product 12' as product_name, "
            "'4 complaints in 90 days' as reason, "
            # a hash id that happens to be all digits is longer than any phone number (E.164: 15)
            "'6143120938475521' as rule_hash")
        manifest = publish(settings, "fine-run", None, "warning", con=con)
    assert manifest.row_counts["channel_mix"] == 1
    assert any("channel_mix: no description" in w for w in manifest.warnings)


def test_publish_with_no_marts_still_publishes_dictionary_and_manifest(settings: Settings) -> None:
    manifest = publish(settings, "empty-run", None, "not_validated")
    assert set(manifest.row_counts) == {"data_dictionary", "publish_manifest"}
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        assert con.execute("select count(*) from marts.publish_manifest").fetchone()[0] == 2
    finally:
        con.close()


def test_views_in_marts_are_published_as_tables_and_a_crashed_build_is_cleaned(settings: Settings) -> None:
    stale = settings.published_dir / "versions" / ".building-20000101T000000000000Z-crashed"
    stale.mkdir(parents=True)
    (stale / "marts.duckdb").write_bytes(b"half written")
    half_swapped = settings.published_dir / ".current.tmp-999-deadbeef"
    half_swapped.symlink_to("versions/gone")
    with warehouse_writer(settings) as con:
        create_sample_marts(con, only=("customer_retention",))
        con.execute("create or replace view marts.high_risk as "
                    "select customer_id, risk_score from marts.customer_retention where risk_band = 'high'")
        con.execute("comment on view marts.high_risk is 'grain: one row per high-risk customer; for call lists'")
        (n_high,) = con.execute("select count(*) from marts.high_risk").fetchone()
        manifest = publish(settings, "view-run", None, "passed", con=con)
    assert manifest.row_counts["high_risk"] == n_high > 0
    assert not stale.exists() and not half_swapped.is_symlink()
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        assert con.execute("select table_type from information_schema.tables where table_name = 'high_risk'"
                           ).fetchone() == ("BASE TABLE",)
        assert con.execute("select grain from data_dictionary where table_name = 'high_risk' limit 1"
                           ).fetchone() == ("one row per high-risk customer",)
    finally:
        con.close()


def test_validation_status_comes_from_the_latest_result_of_each_rule(settings: Settings) -> None:
    with warehouse_writer(settings) as con:
        assert validation_status_from_audit(con) == "not_validated"
        con.execute("""
            create or replace table audit.validation_results (batch_id varchar, table_name varchar, rule varchar,
              severity varchar, success boolean, checked_at timestamp)""")
        con.execute("insert into audit.validation_results values "
                    "('b1', 't', 'r1', 'critical', false, '2026-01-01'), ('b2', 't', 'r1', 'critical', true, '2026-01-02'),"
                    "('b2', 't', 'r2', 'warning', true, '2026-01-02')")
        assert validation_status_from_audit(con) == "passed"
        con.execute("insert into audit.validation_results values ('b3', 't', 'r2', 'warning', false, '2026-01-03')")
        assert validation_status_from_audit(con) == "warning"
        con.execute("insert into audit.validation_results values ('b3', 't', 'r1', 'critical', false, '2026-01-03')")
        assert validation_status_from_audit(con) == "failed"


def test_split_table_comment() -> None:
    assert split_table_comment("grain: one row per x; what it is") == ("one row per x", "what it is")
    assert split_table_comment("Grain:one row per y") == ("one row per y", None)
    assert split_table_comment("no grain here") == (None, "no grain here")
    assert split_table_comment(None) == (None, None)


def test_manifest_round_trips_through_json(settings: Settings) -> None:
    _, manifest = _publish_sample(settings)
    assert type(manifest).from_json(manifest.to_json()) == manifest
    assert dataclasses.replace(manifest, run_id="x") != manifest


def test_verify_published_checks_the_current_version_against_its_manifest(settings: Settings) -> None:
    from warehouse.serve.publish import current_version_dir, verify_published

    with pytest.raises(PublishError, match="nothing is published yet"):
        verify_published(settings)
    _, manifest = _publish_sample(settings)
    assert verify_published(settings) == manifest
    # a damaged version is caught: a Parquet file from another version
    folder = current_version_dir(settings)
    other = folder / "parquet" / "cohort_retention.parquet"
    (folder / "parquet" / "churn_by_segment.parquet").replace(other)
    with pytest.raises(PublishError, match=r"cohort_retention: \d+ rows in Parquet, manifest says"):
        verify_published(settings)
