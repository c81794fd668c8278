"""validate_core: after a load, core facts hold exactly what staging kept (staging totals - quarantined)."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.errors import CriticalValidationError
from warehouse.settings import Settings

SALES = Path(__file__).resolve().parents[1] / "fixtures" / "bad_inputs" / "sales"


def test_core_reconciles_with_staging_and_catches_a_lost_or_doubled_row(pipeline_settings: Settings) -> None:
    from warehouse import pipeline
    from warehouse.db import warehouse_writer
    from warehouse.validation import validate_core

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
    from warehouse import pipeline
    from warehouse.db import warehouse_writer
    from warehouse.validation import validate_core

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

    from warehouse import load as load_mod
    from warehouse.pipeline import ingest_file

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
