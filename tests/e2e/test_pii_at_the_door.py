"""Personal data at the door (issue 16): e-mail addresses and phone numbers planted in a file drop's
descriptions and customer ids are masked in staging, so a mart built from the product names publishes;
the publish guard, the last line, still refuses the same text taken unmasked from raw."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.settings import Settings
from warehouse.ops.pipeline import ingest_file
from warehouse.serve.publish import PiiLeakError, publish

PLANTED = Path(__file__).resolve().parents[1] / "fixtures" / "bad_inputs" / "sales" / "personal_data_in_text.csv"


def test_planted_personal_data_is_masked_at_staging_and_publishing_goes_on(pipeline_settings: Settings) -> None:
    result = ingest_file(pipeline_settings, PLANTED)
    assert result.status == "succeeded" and result.rows_loaded == 3 and result.warnings == 1
    with warehouse_writer(pipeline_settings) as con:
        con.execute("""create table marts.product_lines as
                       select f.customer_id, f.product_id, p.name as product_name, count(*) as lines
                       from core.fct_sales_line f join core.dim_product p using (product_key) group by all""")
        con.execute("comment on table marts.product_lines is 'grain: one row per customer and product; test mart'")
        manifest = publish(pipeline_settings, "pii-door", None, "passed", con=con)
        assert manifest.row_counts["product_lines"] == 3
        # the guard still works: the same descriptions unmasked, as the raw layer holds them
        con.execute("create table marts.raw_descriptions as select description as product_name "
                    "from raw.files__sales_lines")
        with pytest.raises(PiiLeakError, match=r"raw_descriptions.product_name: 1 value\(s\) contain an e-mail address"):
            publish(pipeline_settings, "pii-raw", None, "passed", con=con)
