"""The services facts and marts on a hand-made source (tests/services_support.py), answers worked out by hand:
funnel conversions and stage durations (one opportunity skips a stage, one moves back), renewal chains
with a gap and an early termination, SLA met per step, and a re-run that changes nothing."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ingest_support import table_checksums  # noqa: E402
from services_support import END  # noqa: E402

from warehouse.foundation.settings import Settings, load_settings  # noqa: E402


@pytest.fixture(scope="module")
def template(services_template: Path) -> Path:
    return services_template


@pytest.fixture(scope="module")
def con(template: Path):
    c = duckdb.connect(str(template / "warehouse" / "crm.duckdb"), read_only=True)
    yield c
    c.close()


def _row(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> dict:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


def test_every_row_read_is_loaded_and_accounted_for(con) -> None:
    batches = con.execute("select entity, status, rows_read, rows_loaded, rows_quarantined from audit.load_batches "
                          "where entity in ('leads', 'opportunities', 'opportunity_stage_history', 'contracts', "
                          "'service_orders', 'service_steps')").fetchall()
    assert {b[0] for b in batches} == {"leads", "opportunities", "opportunity_stage_history", "contracts",
                                       "service_orders", "service_steps"}
    assert all(status == "succeeded" and read == loaded and q == 0 for _, status, read, loaded, q in batches)
    counts = dict(con.execute("""select 'lead', count(*) from core.fct_lead union all
        select 'opp', count(*) from core.fct_opportunity union all select 'stage', count(*) from core.fct_opportunity_stage
        union all select 'contract', count(*) from core.fct_contract union all select 'step', count(*) from core.fct_service_step
    """).fetchall())
    assert counts == {"lead": 7, "opp": 5, "stage": 24, "contract": 4, "step": 4}


def test_accumulating_snapshot_keeps_the_first_entry_into_each_stage(con) -> None:
    skipped = _row(con, "select * from core.fct_opportunity where opportunity_id = 'OP0000002'")
    assert skipped["qualified_at"] is None and skipped["proposal_at"] == dt.datetime(2025, 1, 8, 9)
    assert skipped["furthest_stage"] == "won" and skipped["skipped_stages"] == 1 and skipped["backward_moves"] == 0
    assert skipped["is_won"] and skipped["customer_id"] == "C000002" and skipped["channel"] == "web"
    back = _row(con, "select * from core.fct_opportunity where opportunity_id = 'OP0000003'")
    assert back["proposal_at"] == dt.datetime(2025, 1, 9, 9) and back["negotiation_at"] == dt.datetime(2025, 1, 14, 9)
    assert back["backward_moves"] == 1 and back["stage_changes"] == 7 and back["furthest_stage"] == "negotiation"
    assert back["is_lost"] and back["lost_reason"] == "price" and back["customer_key"] == 0  # never a customer
    assert back["days_to_close"] == pytest.approx(21.0)  # 4 Jan -> 25 Jan
    lead = _row(con, "select * from core.fct_lead where lead_id = 'L2'")
    assert lead["is_won"] and lead["opportunity_id"] == "OP0000002" and lead["owner_rep_id"] == "E0001"
    assert lead["days_to_convert"] == pytest.approx(1.0)


def test_stage_changes_flag_the_move_back_and_the_skip(con) -> None:
    rows = con.execute("""select stage, previous_stage, is_backward, is_skip, stages_skipped, days_in_previous_stage
                          from core.fct_opportunity_stage where opportunity_id = 'OP0000003' order by change_number""").fetchall()
    assert [r[0] for r in rows] == ["new", "qualified", "proposal", "negotiation", "proposal", "negotiation", "lost"]
    back = rows[4]
    assert back[1] == "negotiation" and back[2] is True and back[5] == pytest.approx(2.0)
    assert sum(r[2] for r in rows) == 1 and not any(r[3] for r in rows)
    skip = _row(con, """select * from core.fct_opportunity_stage
                        where opportunity_id = 'OP0000002' and stage = 'proposal'""")
    assert skip["previous_stage"] == "new" and skip["is_skip"] and skip["stages_skipped"] == 1
    assert skip["days_in_previous_stage"] == pytest.approx(5.0)


def test_sales_funnel_conversions_and_stage_durations_by_hand(con) -> None:
    web = _row(con, "select * from marts.sales_funnel where month = '2025-01-01' and channel = 'web'")
    assert web["owner_rep_id"] == "E0001"
    # 6 leads; 4 opportunities; all 4 reached qualified (O2 skipped it: counts as passed), O1-O3 proposal and
    # negotiation, O1 and O2 won, O3 and O4 lost
    assert (web["leads"], web["opportunities"], web["reached_qualified"], web["reached_proposal"],
            web["reached_negotiation"], web["won"], web["lost"], web["open_opportunities"]) == (6, 4, 4, 3, 3, 2, 2, 0)
    assert web["lead_to_opportunity_rate"] == pytest.approx(0.6667)
    assert web["qualified_to_proposal_rate"] == pytest.approx(0.75)
    assert web["negotiation_to_won_rate"] == pytest.approx(0.6667)
    assert web["lead_to_won_rate"] == pytest.approx(0.3333) and web["win_rate"] == pytest.approx(0.5)
    # medians over first entries: new->qualified O1 3, O3 2, O4 2 (O2 skipped); qualified->proposal O1 5,
    # O3 3; proposal->negotiation O1 5, O2 4, O3 5; negotiation->won O1 5, O2 10; to win O1 18, O2 19
    assert web["median_days_new_to_qualified"] == pytest.approx(2.0)
    assert web["median_days_qualified_to_proposal"] == pytest.approx(4.0)
    assert web["median_days_proposal_to_negotiation"] == pytest.approx(5.0)
    assert web["median_days_negotiation_to_won"] == pytest.approx(7.5)
    assert web["median_days_to_win"] == pytest.approx(18.5)
    assert float(web["won_value"]) == 3000.0 and float(web["open_pipeline_value"]) == 0.0
    referral = _row(con, "select * from marts.sales_funnel where channel = 'referral'")
    assert (referral["month"], referral["owner_rep_id"], referral["leads"], referral["won"]) == (
        dt.date(2025, 2, 1), "E0002", 1, 1)


def test_contracts_keep_their_renewal_chain_gaps_and_early_terminations(con) -> None:
    rows = {r[0]: r[1:] for r in con.execute("""
        select contract_id, chain_id, chain_position, renewed_from_contract_id, renewed_by_contract_id,
               gap_days_from_previous, is_renewed, is_terminated_early, effective_end_date, price_change_pct,
               annual_value, customer_id, owner_rep_id
        from core.fct_contract""").fetchall()}
    assert rows["HT00000001"][:6] == ("HT00000001", 1, None, "HT00000002", None, True)
    assert rows["HT00000002"][:6] == ("HT00000001", 2, "HT00000001", None, 41, False)  # 9 Mar -> 20 Apr
    assert rows["HT00000003"][6:8] == (True, dt.date(2025, 2, 15))
    assert rows["HT00000004"][8] == pytest.approx(0.2) and float(rows["HT00000004"][9]) == 2400.0
    payment = _row(con, "select contract_id from core.fct_payment where order_id = 'SO000002'")
    assert payment["contract_id"] == "HT00000002"


def test_service_steps_meet_or_miss_their_sla(con) -> None:
    steps = {r[0]: r[1:] for r in con.execute(
        "select step_code, sla_met, days_late, is_filing, contract_id from core.fct_service_step").fetchall()}
    assert steps["name_check"][:2] == (True, 0)
    assert steps["documents"][:2] == (False, 3)  # done 28 Jan, due 25 Jan
    assert steps["submission"][0] is False and steps["submission"][1] > 300  # open since 31 Jan 2025, as of the cut-off
    assert steps["tax_declaration"] == (False, 2, True, "HT00000002")  # filed 17 Jun, due end of 15 Jun
    sla = {r[0]: r[1:] for r in con.execute("""select step_code, due, met, missed, open_overdue, attainment_rate,
                                               median_days_late from marts.service_sla where process <> 'ticket'""").fetchall()}
    assert sla["name_check"] == (1, 1, 0, 0, 1.0, None)
    assert sla["documents"] == (1, 0, 1, 0, 0.0, 3.0)
    assert sla["submission"][:4] == (1, 0, 1, 1)
    tickets = con.execute("select sum(due), sum(met) from marts.service_sla where process = 'ticket'").fetchone()
    assert tickets == (3, 3)  # answered after 2 hours


def test_renewal_mart_lists_the_contract_ending_soon_and_says_why_there_is_no_model(con) -> None:
    rows = con.execute("select contract_id, days_to_end, renewal_probability, main_driver, value_at_stake, "
                       "owner_rep_id from marts.contract_renewals").fetchall()
    assert [r[0] for r in rows] == ["HT00000004"]  # HT2 ends in April: outside the 90 days
    contract, days, probability, driver, value, owner = rows[0]
    assert days == 13 and probability is None and "no renewal model yet" in driver
    assert value == pytest.approx(240.0 * 12) and owner == "E0002"
    card = con.execute("select distinct status, note from marts.renewal_model_card").fetchall()
    assert card[0][0] == "insufficient_data" and "training contracts" in card[0][1]


@pytest.fixture(scope="module")
def reloaded(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A copy of the loaded warehouse: the same interval loaded again (checksums before and after), then
    rows that break the services contracts added to the source and loaded incrementally."""
    copy = tmp_path_factory.mktemp("services-rerun") / "data"
    shutil.copytree(template, copy)
    from warehouse.ops import pipeline

    settings: Settings = load_settings({"CRMWH_DATA_DIR": str(copy), "CRMWH_VALIDATION__DATA_DOCS_ENABLED": "false"})
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as c:
        before = table_checksums(c)
    pipeline.run(settings, pipeline.Interval.parse(None, END))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as c:
        after = table_checksums(c)
    plant_bad_rows(settings.source_url.removeprefix("sqlite:///"))
    summary = pipeline.run(settings, pipeline.Interval.parse(None, "2026-01-03T00:00:00"))
    return {"before": before, "after": after, "settings": settings, "summary": summary}


def test_rerunning_the_interval_leaves_the_core_tables_identical(reloaded: dict) -> None:
    assert reloaded["after"] == reloaded["before"]
    assert {t for t in reloaded["before"] if t.startswith("fct_")} >= {
        "fct_lead", "fct_opportunity", "fct_opportunity_stage", "fct_contract", "fct_service_step"}


BAD = "'2026-01-02 10:00:00.000000'"
BAD_ROWS = {  # table -> (columns, rows of SQL literals); every row but the first lead breaks a rule
    "leads": ("lead_id, lead_code, channel, owner_id, status, created_at, updated_at, is_deleted",
              [f"9, 'L9', 'web', 1, 'new', {BAD}, {BAD}, 0",
               f"8, 'L8', 'web', 1, 'new', 'yesterday', {BAD}, 0"]),
    "opportunities": ("opportunity_id, opportunity_code, lead_id, owner_id, amount, stage, created_at, updated_at, "
                      "is_deleted",
                      [f"9, 'OP0000009', 6, 1, 100, 'closed', {BAD}, {BAD}, 0",
                       f"10, 'OP0000010', 6, 1, -5, 'new', {BAD}, {BAD}, 0",
                       f"11, 'OP0000011', 99, 1, 100, 'new', {BAD}, {BAD}, 0"]),
    "opportunity_stage_history": ("stage_change_id, opportunity_id, stage, changed_at, changed_by, created_at, "
                                  "updated_at, is_deleted",
                                  [f"100, 999, 'new', {BAD}, 1, {BAD}, {BAD}, 0"]),
    "contracts": ("contract_id, contract_number, customer_id, product_code, start_date, end_date, billing_period, fee, "
                  "auto_renew, renewed_from_contract_id, status, created_at, updated_at, is_deleted",
                  [f"5, 'HT00000005', 1, 'SV-TAX-BL', '2025-06-01', '2025-05-01', 'monthly', 200, 1, null, 'active', {BAD}, {BAD}, 0",
                   f"6, 'HT00000006', 1, 'SV-TAX-BL', '2025-06-01', '2026-05-31', 'weekly', 200, 1, null, 'active', {BAD}, {BAD}, 0",
                   f"7, 'HT00000007', 1, 'SV-TAX-BL', '2025-06-01', '2026-05-31', 'monthly', 200, 1, 99, 'active', {BAD}, {BAD}, 0"]),
    "service_steps": ("step_id, service_order_id, step_number, step_code, agent_id, started_at, due_at, completed_at, "
                      "status, created_at, updated_at, is_deleted",
                      [f"5, 1, 4, 'licence_issued', 3, '2025-12-20 09:00:00.000000', '2025-12-30 09:00:00.000000', "
                       f"'2025-12-19 09:00:00.000000', 'done', {BAD}, {BAD}, 0",
                       f"6, 99, 1, 'name_check', 3, '2025-12-20 09:00:00.000000', '2025-12-23 09:00:00.000000', null, "
                       f"'in_progress', {BAD}, {BAD}, 0"]),
}
EXPECTED_RULES = {
    "stg_crm__leads": [["parse_created_at"]],
    "stg_crm__opportunities": [["stage_known"], ["amount_not_negative"], ["lead_id_resolves"]],
    "stg_crm__opportunity_stage_history": [["opportunity_id_resolves"]],
    "stg_crm__contracts": [["end_not_before_start"], ["billing_period_known"], ["renewed_from_contract_id_resolves"]],
    "stg_crm__service_steps": [["completed_not_before_started"], ["service_order_id_resolves"]],
}


def plant_bad_rows(sqlite_path: str) -> None:
    import sqlite3

    db = sqlite3.connect(sqlite_path)
    with db:
        for table, (columns, rows) in BAD_ROWS.items():
            for values in rows:
                db.execute(f"insert into {table} ({columns}) values ({values})")  # noqa: S608 - test literals
    db.close()


def test_rows_breaking_the_services_contracts_are_quarantined_with_reasons(reloaded: dict) -> None:
    settings = reloaded["settings"]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as c:
        for table, expected in EXPECTED_RULES.items():
            rows = c.execute(f"select rules, reason, raw_record from quarantine.{table} order by _source_row").fetchall()
            assert [r[0] for r in rows] == expected, table
            assert all(r[1] and r[2] for r in rows), table
        reasons = {r[0] for r in c.execute("select reason from quarantine.stg_crm__opportunities").fetchall()}
        assert "sales stage closed is not one of new, qualified, proposal, negotiation, won, lost" in reasons
        assert "lead_id 99 is unknown (no such lead)" in reasons
        (lead_reason,) = c.execute("select reason from quarantine.stg_crm__leads").fetchone()
        assert lead_reason == "created_at 'yesterday' is not a valid timestamp"
        batches = c.execute("select entity, rows_read, rows_loaded, rows_quarantined, status from audit.load_batches "
                            "where run_id = ?", [reloaded["summary"].run_id]).fetchall()
        assert all(read == loaded + quarantined and status == "succeeded" for _, read, loaded, quarantined, status in batches)
        quarantined = {entity: q for entity, _, _, q, _ in batches}
        assert quarantined["contracts"] == 3 and quarantined["service_steps"] == 2 and quarantined["leads"] == 1
        # the good new lead is loaded; nothing of the bad rows reached core
        assert c.execute("select count(*) from core.fct_lead where lead_id in ('L8', 'L9')").fetchone() == (1,)
        assert c.execute("select count(*) from core.fct_contract").fetchone() == (4,)
        assert c.execute("select count(*) from core.fct_opportunity").fetchone() == (5,)
