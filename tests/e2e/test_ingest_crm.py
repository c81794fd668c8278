"""CRM database -> raw -> staging -> core, end to end against real SQLite (and PostgreSQL) sources."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from ingest_support import build_source, load_template, table_checksums, update_rows

from warehouse.core import load as load_mod
from warehouse.foundation.settings import Settings, load_settings
from warehouse.ingest.source_contract import metadata
from warehouse.ops import pipeline

END_1 = "2024-06-01"
END_2 = "2024-09-01"


@pytest.fixture(scope="module")
def loaded_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """A data directory with the test source and its first load up to END_1 (built once per module)."""
    directory = tmp_path_factory.mktemp("loaded") / "data"
    counts = load_template(directory, END_1)
    return directory, counts


@pytest.fixture
def loaded(pipeline_settings: Settings, loaded_template: tuple[Path, dict[str, int]]) -> Settings:
    """``pipeline_settings`` whose data directory holds a copy of the loaded template."""
    template, _ = loaded_template
    for part in ("source", "warehouse"):
        shutil.copytree(template / part, Path(pipeline_settings.data_dir) / part, dirs_exist_ok=True)
    return pipeline_settings


def _read(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _checksums(settings: Settings) -> dict[str, tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return table_checksums(con)
    finally:
        con.close()


def _source_count(url: str, table: str, where: str = "1=1") -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text(f"select count(*) from {table} where {where}")).scalar_one()
    engine.dispose()
    return int(n)


def _assert_full_load(settings: Settings, url: str, counts: dict[str, int]) -> None:
    batches = _read(settings, "select entity, status, rows_read, rows_loaded, rows_quarantined "
                              "from audit.load_batches")
    assert {b[0] for b in batches} == set(counts)
    for entity, status, read, loaded, quarantined in batches:
        assert status == "succeeded", entity
        assert read == counts[entity] and read == loaded + quarantined, entity
    (lines, products_missing, guests, guest_ids, cancelled, returns), = _read(settings, """
        select count(*), count(*) filter (where product_key is null), count(*) filter (where customer_key = 0),
               count(customer_id) filter (where customer_key = 0), count(*) filter (where is_cancelled),
               count(*) filter (where is_return)
        from core.fct_sales_line""")
    assert lines == counts["order_lines"]
    # trailing spaces and lower-case variants of a code resolve to the same product
    assert products_missing == 0
    guest_lines = _source_count(url, "order_lines l join orders o on o.order_id = l.order_id",
                                "o.customer_id is null")
    assert guests == guest_lines > 0 and guest_ids == 0
    assert cancelled == _source_count(url, "order_lines l join orders o on o.order_id = l.order_id",
                                      "o.status = 'cancelled'") > 0
    assert returns == _source_count(url, "order_lines", "quantity < 0") > 0
    for table, key in (("fct_service_ticket", "service_tickets"), ("fct_interaction", "interactions"),
                       ("fct_payment", "payments")):
        assert _read(settings, f"select count(*) from core.{table}")[0][0] == counts[key]
    # money is DECIMAL end to end
    types = dict(_read(settings, "select column_name, data_type from duckdb_columns() "
                                 "where schema_name = 'core' and table_name = 'fct_sales_line'"))
    assert types["net_amount"].startswith("DECIMAL") and types["unit_price"].startswith("DECIMAL")
    total = _read(settings, "select sum(net_amount) from core.fct_sales_line")[0][0]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        expected = conn.execute(sa.text("select sum(line_amount) from order_lines")).scalar_one()
    engine.dispose()
    assert isinstance(total, Decimal) and total == Decimal(str(expected)).quantize(Decimal("0.01"))


def test_sqlite_full_load_accounts_for_every_row(loaded: Settings,
                                                 loaded_template: tuple[Path, dict[str, int]]) -> None:
    _assert_full_load(loaded, loaded.source_url, loaded_template[1])
    marks = dict(_read(loaded, "select entity, watermark from audit.watermarks"))
    assert marks["orders"] == datetime(2024, 2, 10, 14, 0)  # the newest updated_at read


@pytest.mark.postgres
def test_postgresql_source_loads_the_same(pg_schema_url: str, data_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMWH_SOURCE_URL", pg_schema_url)
    monkeypatch.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    settings = load_settings()
    counts = build_source(pg_schema_url)
    pipeline.run(settings, pipeline.Interval.parse(None, END_1))
    _assert_full_load(settings, pg_schema_url, counts)


def test_rerun_of_the_same_interval_leaves_core_identical(loaded: Settings) -> None:
    pipeline_settings = loaded
    interval = pipeline.Interval.parse(None, END_1)
    first = _checksums(pipeline_settings)
    assert first["fct_sales_line"][0] > 0
    pipeline.run(pipeline_settings, interval)
    assert _checksums(pipeline_settings) == first
    # a changed source row does change the checksum (the comparison can fail)
    update_rows(pipeline_settings.source_url, "order_lines", "order_line_id = 1", {"quantity": 99},
                datetime(2024, 5, 1))
    pipeline.run(pipeline_settings, interval)
    assert _checksums(pipeline_settings)["fct_sales_line"] != first["fct_sales_line"]


def _customer_versions(settings: Settings, customer_id: str) -> list[tuple]:
    return _read(settings, "select customer_key, segment, valid_from, valid_to, is_current from core.dim_customer "
                           "where customer_id = ? order by valid_from", [customer_id])


def test_attribute_changes_make_type2_history_and_facts_use_the_version_of_their_time(
        loaded: Settings) -> None:
    pipeline_settings = loaded
    url = pipeline_settings.source_url
    (old_key, old_segment, _, old_to, old_current), = _customer_versions(pipeline_settings, "C000008")
    assert old_to is None and old_current
    changed_at = datetime(2024, 7, 1, 12, 0)
    update_rows(url, "customers", "customer_id = 8", {"segment": "vip" if old_segment != "vip" else "corporate"},
                changed_at)
    update_rows(url, "products", "product_id = 4", {"unit_price": Decimal("99.90")}, changed_at)
    update_rows(url, "customers", "customer_id = 9", {"email": "new@example.com"}, changed_at)  # type 1 only
    # a new order of customer 8 after the change
    engine = sa.create_engine(url)
    after = datetime(2024, 7, 15, 10, 0)
    with engine.begin() as conn:
        conn.execute(metadata.tables["orders"].insert(), [{
            "order_id": 1000, "order_number": "SO001000", "customer_id": 8, "order_ts": after, "channel": "web",
            "sales_rep_id": 1, "status": "completed", "order_total": Decimal("99.90"), "currency": "GBP",
            "created_at": after, "updated_at": after, "is_deleted": False}])
        conn.execute(metadata.tables["order_lines"].insert(), [{
            "order_line_id": 1000, "order_id": 1000, "line_number": 1, "product_code": "SKU004", "quantity": 1,
            "unit_price": Decimal("99.90"), "discount": Decimal("0"), "line_amount": Decimal("99.90"),
            "created_at": after, "updated_at": after, "is_deleted": False}])
    engine.dispose()
    pipeline.run(pipeline_settings, pipeline.Interval.parse(None, END_2))

    versions = _customer_versions(pipeline_settings, "C000008")
    assert len(versions) == 2
    (k1, s1, _, to1, cur1), (k2, s2, from2, to2, cur2) = versions
    assert k1 == old_key and s1 == old_segment and to1 == changed_at == from2 and not cur1
    assert s2 != old_segment and to2 is None and cur2 and k2 != k1
    assert len(_customer_versions(pipeline_settings, "C000009")) == 1  # e-mail is not tracked
    assert _read(pipeline_settings, "select email from core.dim_customer where customer_id = 'C000009'") == [
        ("new@example.com",)]
    prices = _read(pipeline_settings, "select unit_price, is_current from core.dim_product where product_id = 'SKU004' "
                                    "order by valid_from")
    assert prices == [(Decimal("8.50"), False), (Decimal("99.90"), True)]
    # facts: each line carries the customer version valid at its order time
    rows = _read(pipeline_settings, "select order_ts < ?, customer_key from core.fct_sales_line "
                                  "where customer_id = 'C000008'", [changed_at])
    assert rows and {k for before, k in rows if before} == {k1} and {k for before, k in rows if not before} == {k2}
    new_line = _read(pipeline_settings, "select product_key, unit_price from core.fct_sales_line "
                                      "where sales_line_id = 'crm:1000'")
    current_product = _read(pipeline_settings, "select product_key from core.dim_product "
                                             "where product_id = 'SKU004' and is_current")
    assert new_line[0][0] == current_product[0][0] and new_line[0][1] == Decimal("99.90")

    # backfill of the first interval afterwards: history and facts stay exactly as they are
    before = _checksums(pipeline_settings)
    pipeline.run(pipeline_settings, pipeline.Interval.parse("2024-01-01", END_1))
    assert _checksums(pipeline_settings) == before


def test_soft_deletes_close_dimensions_and_remove_facts(loaded: Settings) -> None:
    pipeline_settings = loaded
    url = pipeline_settings.source_url
    lines_before = _read(pipeline_settings, "select count(*) from core.fct_sales_line")[0][0]
    gone = datetime(2024, 7, 1)
    update_rows(url, "order_lines", "order_line_id = 5", {"is_deleted": True}, gone)
    update_rows(url, "orders", "order_id = 7", {"is_deleted": True}, gone)
    update_rows(url, "customers", "customer_id = 3", {"is_deleted": True}, gone)
    pipeline.run(pipeline_settings, pipeline.Interval.parse(None, END_2))
    order_7_lines = _source_count(url, "order_lines", "order_id = 7 and order_line_id <> 5")
    assert _read(pipeline_settings, "select count(*) from core.fct_sales_line")[0][0] == \
        lines_before - 1 - order_7_lines
    assert not _read(pipeline_settings, "select 1 from core.fct_sales_line where order_id = 'SO000007' "
                                      "or sales_line_id = 'crm:5'")
    versions = _read(pipeline_settings, "select is_deleted, is_current, valid_to from core.dim_customer "
                                      "where customer_id = 'C000003' order by valid_from")
    assert versions == [(False, False, gone), (True, True, None)]


def test_failure_inside_the_load_leaves_nothing_behind(pipeline_settings: Settings,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    build_source(pipeline_settings.source_url)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected failure after the sales lines were written")

    monkeypatch.setattr(load_mod, "write_plain_models", boom)
    with pytest.raises(RuntimeError, match="injected"):
        pipeline.run(pipeline_settings, pipeline.Interval.parse(None, END_1))
    assert _read(pipeline_settings, "select count(*) from core.fct_sales_line")[0][0] == 0
    assert _read(pipeline_settings, "select count(*) from audit.watermarks")[0][0] == 0
    statuses = {r[0] for r in _read(pipeline_settings, "select status from audit.load_batches")}
    assert statuses == {"failed"}
    monkeypatch.undo()
    monkeypatch.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    pipeline.run(pipeline_settings, pipeline.Interval.parse(None, END_1))
    assert _read(pipeline_settings, "select count(*) from core.fct_sales_line")[0][0] > 0


KILL_SCRIPT = textwrap.dedent("""
    import os, signal
    from warehouse.core import load
    from warehouse.ops import pipeline
    from warehouse.foundation.settings import load_settings

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # the process dies mid-transaction (sales lines written)
    load.write_plain_models = killed
    pipeline.run(load_settings(), pipeline.Interval.parse(None, "2024-06-01"))
""")


def test_killed_process_leaves_no_partial_rows(pipeline_settings: Settings) -> None:
    build_source(pipeline_settings.source_url)
    env = {**os.environ, "CRMWH_DATA_DIR": str(pipeline_settings.data_dir)}
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert _read(pipeline_settings, "select count(*) from core.fct_sales_line")[0][0] == 0
    assert _read(pipeline_settings, "select count(*) from audit.watermarks")[0][0] == 0
    # the dimension step had committed; the batches are still open, a new run completes everything
    pipeline.run(pipeline_settings, pipeline.Interval.parse(None, END_1))
    assert _read(pipeline_settings, "select count(*) from core.fct_sales_line")[0][0] == 80


def test_incremental_run_reads_only_changes_since_the_watermark(loaded: Settings) -> None:
    pipeline_settings = loaded
    url = pipeline_settings.source_url
    marks = dict(_read(pipeline_settings, "select entity, watermark from audit.watermarks"))
    update_rows(url, "order_lines", "order_line_id in (2, 3)", {"discount": Decimal("1.00")},
                datetime(2024, 8, 1))
    pipeline.run(pipeline_settings, pipeline.Interval.parse(None, END_2))
    read = dict(_read(pipeline_settings, """
        select entity, rows_read from audit.load_batches b
        where started_at = (select max(started_at) from audit.load_batches x where x.entity = b.entity)"""))
    overlap = timedelta(minutes=pipeline_settings.ingest.overlap_minutes)
    for entity in ("order_lines", "customers", "orders"):
        since = (marks[entity] - overlap).strftime("%Y-%m-%d %H:%M:%S")
        expected = _source_count(url, entity, f"updated_at > '{since}'")
        assert read[entity] == expected, entity
    # the overlap re-reads a few recent rows, not the table
    assert 2 <= read["order_lines"] < _source_count(url, "order_lines")
    assert read["orders"] < _source_count(url, "orders")
    assert _read(pipeline_settings, "select watermark from audit.watermarks where entity = 'order_lines'") == [
        (datetime(2024, 8, 1),)]
    discounts = _read(pipeline_settings, "select sales_line_id, discount from core.fct_sales_line "
                                       "where sales_line_id in ('crm:2', 'crm:3') order by 1")
    assert discounts == [("crm:2", Decimal("1.00")), ("crm:3", Decimal("1.00"))]


def test_sqlite_column_null_throughout_the_first_batch_still_reads(data_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQLite driver infers column types from the first Arrow batch: NULLs there must not break it."""
    monkeypatch.setenv("CRMWH_INGEST__FETCH_BATCH_ROWS", "1")
    monkeypatch.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    settings = load_settings()
    settings.ensure_dirs()
    counts = build_source(settings.source_url)
    update_rows(settings.source_url, "customers", "customer_id = 1", {"email": None, "phone": None}, T0_UPDATE)
    from warehouse.foundation.db import warehouse_writer
    from warehouse.ingest.extract import extract_crm
    with warehouse_writer(settings) as con:
        extract_crm(con, settings, interval_start=None, cutoff=datetime(2024, 6, 1), tables=("customers",))
        emails = con.execute("select _source_row, email from raw.crm__customers order by _source_row "
                             "limit 2").fetchall()
        n = con.execute("select count(*) from raw.crm__customers").fetchall()[0][0]
    assert n == counts["customers"]
    assert emails == [(1, None), (2, "c2@example.com")]


T0_UPDATE = datetime(2024, 1, 2)
