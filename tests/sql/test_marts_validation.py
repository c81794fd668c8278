"""The marts suites are the gate before publishing: real marts pass, a structural break blocks the
publish (the published version stays), a warning-only problem publishes with status "warning"."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from churn_support import synthesize_core

from warehouse.foundation.db import warehouse_writer
from warehouse.foundation.errors import CriticalValidationError
from warehouse.foundation.settings import Settings, get_settings, load_settings
from warehouse.ops.analytics_pipeline import mine, publish_marts, resolve_as_of, score_churn
from warehouse.quality.validation import marts_suites, validate_marts
from warehouse.serve.publish import read_manifest

MARTS = {"cross_sell_rules", "cross_sell_recommendations", "product_affinity", "customer_retention",
         "customer_winback", "model_card", "cohort_retention", "churn_by_segment", "recommender_card"}
# the services agency's (warehouse/analytics/services_marts.py, warehouse/analytics/care.py; built by crm_care, tested there)
SERVICES_MARTS = {"sales_funnel", "contract_renewals", "renewal_model_card", "service_sla", "care_actions"}


@pytest.fixture(scope="module")
def real_marts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One small synthetic star schema mined and scored once (the real marts); each test gets a copy."""
    directory = tmp_path_factory.mktemp("marts-template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRMWH_DATA_DIR", str(directory))
        mp.setenv("CRMWH_VALIDATION__DATA_DOCS_ENABLED", "false")
        get_settings.cache_clear()
        settings = load_settings()
        settings.ensure_dirs()
        with warehouse_writer(settings) as con:
            synthesize_core(con, n_customers=300, seed=5)
        day = resolve_as_of(settings)
        mine(settings, day)
        score_churn(settings, day)
        get_settings.cache_clear()
        yield settings.warehouse_path


@pytest.fixture
def marts_settings(pipeline_settings: Settings, real_marts: Path) -> Settings:
    pipeline_settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(real_marts, pipeline_settings.warehouse_path)
    return pipeline_settings


def test_every_published_mart_has_a_suite() -> None:
    assert {s.table for s in marts_suites()} == MARTS | SERVICES_MARTS
    for suite in marts_suites():
        severities = {r.rule_id: r.severity for r in suite.rules}
        assert any(r.expectation_type == "expect_compound_columns_to_be_unique" and r.severity == "critical"
                   for r in suite.rules), suite.table
        assert severities["no_personal_data_columns"] == "warning"


@pytest.mark.timeout(120)
def test_real_marts_from_a_small_run_pass_and_publish_as_passed(marts_settings: Settings) -> None:
    with warehouse_writer(marts_settings) as con:
        built = {t for (t,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()}
        outcomes = validate_marts(con, marts_settings, "check-run")
        failed = con.execute("select table_name, rule from audit.validation_results "
                             "where batch_id = 'check-run' and not success").fetchall()
    assert built >= MARTS
    assert {o.table for o in outcomes} == MARTS
    assert failed == []
    assert all(not o.critical_failures and o.warnings == 0 for o in outcomes)
    assert any(o.rows_checked > 0 for o in outcomes if o.table == "customer_retention")

    summary = publish_marts(marts_settings, "good-run")
    assert summary["validation_status"] == "passed"
    manifest = read_manifest(marts_settings)
    assert manifest is not None and manifest.run_id == "good-run"


PLANTED = {
    "duplicate_customer": ("insert into marts.customer_retention select * from marts.customer_retention limit 1",
                           "customer_retention", "customer_id_unique"),
    "duplicate_cohort_month": ("insert into marts.cohort_retention select * from marts.cohort_retention limit 1",
                               "cohort_retention", "grain_unique"),
    "risk_score_above_1": ("update marts.customer_retention set risk_score = 1.5 "
                           "where customer_id = (select min(customer_id) from marts.customer_retention)",
                           "customer_retention", "risk_score_within_0_1"),
    "churn_rate_above_1": ("update marts.churn_by_segment set churn_rate = 1.5 "
                           "where rowid = (select min(rowid) from marts.churn_by_segment)",
                           "churn_by_segment", "churn_rate_within_0_1"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", sorted(PLANTED))
def test_a_critical_mart_failure_blocks_publishing_and_keeps_the_published_version(
        marts_settings: Settings, case: str) -> None:
    sql, table, rule = PLANTED[case]
    first = publish_marts(marts_settings, "before")  # the version BI tools read today
    with warehouse_writer(marts_settings) as con:
        con.execute(sql)
    with pytest.raises(CriticalValidationError, match=rule):
        publish_marts(marts_settings, "after")

    manifest = read_manifest(marts_settings)
    assert manifest is not None and manifest.version == first["version"] and manifest.run_id == "before"
    con = duckdb.connect(str(marts_settings.warehouse_path), read_only=True)
    try:
        failed = con.execute("select table_name, rule, severity from audit.validation_results "
                             "where batch_id = 'after' and not success").fetchall()
    finally:
        con.close()
    assert (table, rule, "critical") in failed  # the reason is recorded even though the task failed


@pytest.mark.timeout(120)
def test_a_warning_only_mart_problem_publishes_with_status_warning(marts_settings: Settings) -> None:
    with warehouse_writer(marts_settings) as con:
        con.execute("update marts.churn_by_segment set dimension = 'planet' "
                    "where rowid = (select min(rowid) from marts.churn_by_segment)")
        con.execute("update marts.cohort_retention set customers_active = -1 "
                    "where rowid = (select min(rowid) from marts.cohort_retention)")
    summary = publish_marts(marts_settings, "warned-run")
    assert summary["validation_status"] == "warning"
    manifest = read_manifest(marts_settings)
    assert manifest is not None and manifest.run_id == "warned-run" and manifest.validation_status == "warning"
    with warehouse_writer(marts_settings) as con:
        failed = set(con.execute("select table_name, rule, severity from audit.validation_results "
                                 "where batch_id = 'warned-run' and not success").fetchall())
    assert failed == {("churn_by_segment", "dimension_in_set", "warning"),
                      ("cohort_retention", "customers_active_not_negative", "warning")}
