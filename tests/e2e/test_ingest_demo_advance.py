"""The demo generator's source, advanced by `crmwh demo advance`, gives type-2 history in core."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from warehouse.demo.advance import advance
from warehouse.demo.generator import GenerateOptions, generate
from warehouse.foundation.settings import load_settings
from warehouse.ops import pipeline


@pytest.mark.slow
def test_demo_advance_changes_become_type2_versions(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
    settings = load_settings()
    settings.ensure_dirs()
    options = GenerateOptions(scale="small")
    generate(settings.source_url, settings.ground_truth_path, options)
    first = pipeline.run(settings, pipeline.Interval.parse(None, options.end_date + timedelta(days=1)))
    assert first.rows_read == first.rows_loaded + first.rows_quarantined > 0
    result = advance(settings.source_url, settings.ground_truth_path, 7)
    assert sum(result.updated.values()) > 0
    second = pipeline.run(settings, pipeline.Interval.parse(None, result.new_clock + timedelta(days=1)))
    assert second.rows_read == second.rows_loaded + second.rows_quarantined
    assert 0 < second.rows_read < first.rows_read  # incremental: only the week's changes (and the overlap)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        versioned = con.execute("""
            select count(*) from (select customer_id from core.dim_customer group by 1 having count(*) > 1)
        """).fetchone()[0]
        broken = con.execute("""
            select count(*) from (
                select valid_to, lead(valid_from) over (partition by customer_id order by valid_from) as next_from,
                       is_current
                from core.dim_customer)
            where valid_to is distinct from next_from or (valid_to is null) <> is_current
        """).fetchone()[0]
        current = con.execute("select count(*) - count(distinct customer_id) from core.dim_customer "
                              "where is_current").fetchone()[0]
        unresolved = con.execute("select count(*) from core.fct_sales_line where customer_id is not null "
                                 "and customer_key = 0").fetchone()[0]
    finally:
        con.close()
    assert versioned > 0, "the advance changed customer attributes but no customer got a second version"
    assert broken == 0 and current == 0 and unresolved == 0
