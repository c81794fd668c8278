"""validate_core: after a load, core facts hold exactly what staging kept (staging totals - quarantined)."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.foundation.errors import CriticalValidationError
from warehouse.foundation.settings import Settings

SALES = Path(__file__).resolve().parents[1] / "fixtures" / "bad_inputs" / "sales"


def test_core_reconciles_with_staging_and_catches_a_lost_or_doubled_row(pipeline_settings: Settings) -> None:
    from warehouse.foundation.db import warehouse_writer
    from warehouse.ops import pipeline
    from warehouse.quality.validation import validate_core

    batch = pipeline.ingest_file(pipeline_settings, SALES / "duplicated_lines.csv")
    assert (batch.rows_loaded, batch.rows_quarantined) == (3, 2)
    with warehouse_writer(pipeline_settings) as con:
        outcome = validate_core(con, pipeline_settings, "fct_sales_line", [batch.batch_id])
        assert outcome.critical_failures == []
        totals = outcome.result("loaded_totals_reconcile").details["sources"]["staging.stg_files__sales_lines"]
        assert totals == {"rows": "3", "quantity": "6", "net_amount": "17.75",  # 2 x 3.50 + 1 x 4.00 + 3 x 2.25
                          "local_net_amount": "17.75"}  # all GBP, the reporting currency
        con.execute("delete from core.fct_sales_line where sales_line_id = 'canonical:A2:1'")
        with pytest.raises(CriticalValidationError, match="loaded_totals_reconcile"):
            validate_core(con, pipeline_settings, "fct_sales_line", [batch.batch_id])
        con.execute("insert into core.fct_sales_line select * from core.fct_sales_line where sales_line_id = 'canonical:A1:1'")
        with pytest.raises(CriticalValidationError, match="sales_line_id_unique"):
            validate_core(con, pipeline_settings, "fct_sales_line", [batch.batch_id])
        failed = {r[0] for r in con.execute("select rule from audit.validation_results where table_name = "
                                            "'fct_sales_line' and not success").fetchall()}
        assert {"loaded_totals_reconcile", "sales_line_id_unique"} <= failed


def test_type2_dimensions_keep_one_current_version_per_business_id(pipeline_settings: Settings) -> None:
    from warehouse.foundation.db import warehouse_writer
    from warehouse.ops import pipeline
    from warehouse.quality.validation import validate_core

    batch = pipeline.ingest_file(pipeline_settings, SALES / "zero_quantity.csv")
    with warehouse_writer(pipeline_settings) as con:
        for table in ("dim_customer", "dim_product"):
            assert validate_core(con, pipeline_settings, table, [batch.batch_id]).critical_failures == []
        con.execute("insert into core.dim_product select * replace (product_key + 1000 as product_key) "
                    "from core.dim_product where product_id = 'P1'")
        with pytest.raises(CriticalValidationError, match="one_current_version"):
            validate_core(con, pipeline_settings, "dim_product", [batch.batch_id])


def test_pipeline_rolls_back_a_load_whose_core_checks_fail(pipeline_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """validate_core runs inside the load transaction: a critical post-load failure leaves nothing behind."""
    import duckdb

    from warehouse.core import load as load_mod
    from warehouse.ops.pipeline import ingest_file

    real = load_mod.load_facts_in

    def broken(con, settings, batch_ids, cutoff):  # a load bug: one sales line lost on the way to core
        real(con, settings, batch_ids, cutoff)
        con.execute("delete from core.fct_sales_line where sales_line_id = 'canonical:A2:1'")

    monkeypatch.setattr(load_mod, "load_facts_in", broken)
    with pytest.raises(CriticalValidationError, match="loaded_totals_reconcile"):
        ingest_file(pipeline_settings, SALES / "duplicated_lines.csv")
    con = duckdb.connect(str(pipeline_settings.warehouse_path), read_only=True)
    try:
        assert con.execute("select count(*) from core.fct_sales_line").fetchone()[0] == 0
        assert con.execute("select status, rows_loaded from audit.load_batches").fetchall() == [("failed", 0)]
        assert "loaded_totals_reconcile" in con.execute("select error from audit.load_batches").fetchone()[0]
        assert con.execute("select count(*) from audit.watermarks").fetchone()[0] == 0
    finally:
        con.close()


def _second_drop(tmp_path: Path) -> Path:
    path = tmp_path / "second.csv"
    path.write_text("order_id,line_number,product_code,description,quantity,unit_price,order_ts,customer_id,country\n"
                    "B1,1,P1,Mug,1,3.50,2024-03-03 09:00:00,C1,UK\n"
                    "B1,2,P3,Bowl,2,2.25,2024-03-03 09:00:00,C1,UK\n", encoding="utf-8")
    return path


def test_a_later_load_checks_the_fact_rows_it_wrote(pipeline_settings: Settings, tmp_path: Path) -> None:
    """The first load checks the whole (new) fact; the next one the rows whose id it wrote."""
    import duckdb

    from warehouse.ops.pipeline import ingest_file

    first = ingest_file(pipeline_settings, SALES / "duplicated_lines.csv")
    second = ingest_file(pipeline_settings, _second_drop(tmp_path))
    con = duckdb.connect(str(pipeline_settings.warehouse_path), read_only=True)
    try:
        checked = dict(con.execute("select batch_id, rows_checked from audit.validation_results where "
                                   "table_name = 'fct_sales_line' and rule = '_rows_checked'").fetchall())
        assert checked == {first.batch_id: 3, second.batch_id: 2}
        assert con.execute("select count(*) from core.fct_sales_line").fetchone()[0] == 5
    finally:
        con.close()


def test_the_rows_checked_are_the_kept_replaced_and_new_ones_of_the_load(pipeline_settings: Settings,
                                                                        tmp_path: Path) -> None:
    """A load that re-delivers one line unchanged (kept where it is), changes one (replaced) and adds
    one checks exactly those three rows of the fact, found by row id, and the staging totals reconcile."""
    import duckdb

    from warehouse.ops.pipeline import ingest_file

    ingest_file(pipeline_settings, SALES / "duplicated_lines.csv")
    ingest_file(pipeline_settings, _second_drop(tmp_path))
    third = tmp_path / "third.csv"
    third.write_text("order_id,line_number,product_code,description,quantity,unit_price,order_ts,customer_id,country\n"
                     "B1,1,P1,Mug,1,3.50,2024-03-03 09:00:00,C1,UK\n"
                     "B1,2,P3,Bowl,5,2.25,2024-03-03 09:00:00,C1,UK\n"
                     "B1,3,P4,Jug,1,4.00,2024-03-03 09:00:00,C1,UK\n", encoding="utf-8")
    outcome = ingest_file(pipeline_settings, third)
    con = duckdb.connect(str(pipeline_settings.warehouse_path), read_only=True)
    try:
        checked = con.execute("select rows_checked from audit.validation_results where table_name = 'fct_sales_line' "
                              "and rule = '_rows_checked' and batch_id = ?", [outcome.batch_id]).fetchone()
        assert checked == (3,)
        failed = con.execute("select rule from audit.validation_results where table_name = 'fct_sales_line' "
                             "and batch_id = ? and not success", [outcome.batch_id]).fetchall()
        assert failed == []
        rows = con.execute("select sales_line_id, quantity from core.fct_sales_line where order_id = 'B1' "
                           "order by sales_line_id").fetchall()
        assert [(r[0], float(r[1])) for r in rows] == [("canonical:B1:1", 1.0), ("canonical:B1:2", 5.0),
                                                       ("canonical:B1:3", 1.0)]
    finally:
        con.close()


def test_a_written_id_already_in_the_fact_is_caught(pipeline_settings: Settings, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Uniqueness of the ids a load wrote is checked against the whole table, older rows included."""
    import duckdb

    from warehouse.core import load as load_mod
    from warehouse.ops.pipeline import ingest_file

    ingest_file(pipeline_settings, SALES / "duplicated_lines.csv")
    real = load_mod.load_facts_in

    def doubling(con, settings, batch_ids, cutoff):  # a load bug: an old row gets a written id
        real(con, settings, batch_ids, cutoff)
        con.execute("insert into core.fct_sales_line select * replace ('canonical:B1:1' as sales_line_id) "
                    "from core.fct_sales_line where sales_line_id = 'canonical:A1:1'")

    monkeypatch.setattr(load_mod, "load_facts_in", doubling)
    with pytest.raises(CriticalValidationError, match="sales_line_id_unique"):
        ingest_file(pipeline_settings, _second_drop(tmp_path))
    con = duckdb.connect(str(pipeline_settings.warehouse_path), read_only=True)
    try:
        assert con.execute("select count(*) from core.fct_sales_line").fetchone()[0] == 3
    finally:
        con.close()
