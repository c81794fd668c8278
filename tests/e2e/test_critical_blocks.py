"""A critical validation failure stops the batch before loading and keeps the published marts as they were."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from validation_support import reference_data, write_raw_crm_batch

from warehouse.foundation.errors import CriticalValidationError
from warehouse.foundation.settings import Settings
from warehouse.quality.validation_status import validation_status_from_audit

CRM = Path(__file__).resolve().parents[1] / "fixtures" / "bad_inputs" / "crm"


def test_unreconciled_order_totals_fail_the_batch_load_nothing_and_publish_nothing(pipeline_settings: Settings) -> None:
    pipeline = pytest.importorskip("warehouse.ops.pipeline")
    publish_mod = pytest.importorskip("warehouse.serve.publish")
    from warehouse.foundation.db import warehouse_writer

    first = publish_mod.publish(pipeline_settings, "before", None, "passed")  # the version BI tools read today
    with warehouse_writer(pipeline_settings) as con:
        reference_data(con)
        write_raw_crm_batch(con, str(CRM / "order_totals_reconcile_orders.csv"), "orders", "b.orders")
        write_raw_crm_batch(con, str(CRM / "order_totals_mismatch.csv"), "order_lines", "b.lines")
    batches = ["b.orders", "b.lines"]
    reached: list[str] = []
    real_load_dimensions, real_load_facts = pipeline.load_dimensions, pipeline.load_facts

    def spy(name, real):  # noqa: ANN001, ANN202
        def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            reached.append(name)
            return real(*args, **kwargs)
        return call

    pipeline.load_dimensions, pipeline.load_facts = spy("dims", real_load_dimensions), spy("facts", real_load_facts)
    try:
        with pytest.raises(CriticalValidationError, match="line_amounts_reconcile_with_order_totals"):
            pipeline.process(pipeline_settings, batches)
    finally:
        pipeline.load_dimensions, pipeline.load_facts = real_load_dimensions, real_load_facts
    assert reached == []  # the load steps were never called

    con = duckdb.connect(str(pipeline_settings.warehouse_path), read_only=True)
    try:
        status = dict(con.execute("select batch_id, status from audit.load_batches").fetchall())
        assert status["b.lines"] == "failed"
        assert con.execute("select count(*) from core.fct_sales_line").fetchone()[0] == 0
        failed = con.execute("select rule, severity from audit.validation_results where not success "
                             "and batch_id = 'b.lines'").fetchall()
        assert ("line_amounts_reconcile_with_order_totals", "critical") in failed
    finally:
        con.close()

    with warehouse_writer(pipeline_settings) as con:
        status = validation_status_from_audit(con)
        assert status == "failed"
        with pytest.raises(CriticalValidationError, match="stays published"):
            publish_mod.publish(pipeline_settings, "after", None, status, con=con)
    manifest = publish_mod.read_manifest(pipeline_settings)
    assert manifest is not None and manifest.version == first.version and manifest.run_id == "before"
