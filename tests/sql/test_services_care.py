"""The weekly care scan on the hand-made source: every rule on its boundary dates, owners, offers and value
at risk read by their columns (and degrading when missing), capacity, and a week re-run that is identical."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from warehouse.analytics.care import Week, event_window, run_care
from warehouse.core.rules import load_care_rules
from warehouse.foundation.settings import Settings, load_settings

MONDAY = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def data(services_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("services-care") / "data"
    shutil.copytree(services_template, copy)
    return copy


def _rules(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "care_rules.toml"
    path.write_text(body, encoding="utf-8")
    return path


def _settings(data: Path, rules: Path | None = None, capacity: int = 40) -> Settings:
    env = {"CRMWH_DATA_DIR": str(data), "CRMWH_SERVICES__CARE_CAPACITY_PER_OWNER": str(capacity)}
    if rules is not None:
        env["CRMWH_SERVICES__CARE_RULES_PATH"] = str(rules)
    return load_settings(env)


def _scan(data: Path, week: dt.date, rules: Path | None = None, capacity: int = 40) -> list[dict]:
    settings = _settings(data, rules, capacity)
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        run_care(con, settings, Week.of(week))
        cur = con.execute("select * from marts.care_actions order by owner_id, owner_rank")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _rule(code: str, kind: str, lead: str, owner: str = "account_rep", **extra: object) -> str:
    lines = [f'code = "{code}"', f'kind = "{kind}"', 'action = "act"', f'owner = "{owner}"', lead]
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in extra.items()]
    return "[[rule]]\n" + "\n".join(lines) + "\n"


def test_the_declared_rules_load_and_every_week_is_a_partition() -> None:
    rules = {r.code: r for r in load_care_rules()}
    assert set(rules) >= {"renewal_due", "tax_filing_deadline", "annual_report_deadline", "complaint_follow_up",
                          "high_value_at_risk", "signup_anniversary"}
    week = Week.of(dt.date(2025, 7, 2))
    assert week.start == MONDAY and week.end == dt.date(2025, 7, 6)
    assert event_window(rules["renewal_due"], week) == (dt.date(2025, 8, 29), dt.date(2025, 9, 4))
    assert event_window(rules["complaint_follow_up"], week) == (dt.date(2025, 6, 23), dt.date(2025, 6, 29))
    # consecutive weeks' windows touch without overlapping: every event belongs to one scan
    nxt = Week(week.start + dt.timedelta(days=7))
    for rule in rules.values():
        if rule.kind != "value_at_risk":
            assert event_window(rule, nxt)[0] == event_window(rule, week)[1] + dt.timedelta(days=1)


def test_renewal_due_on_its_boundary_dates(data: Path, tmp_path: Path) -> None:
    # contract HT00000004 ends on 14 Jan 2026; the week of Monday 10 Nov 2025 lists events in [W + d, W + 6 + d]
    body = "".join(_rule(f"renewal_{d}", "renewal_due", f"days_before = {d}") for d in (58, 59, 65, 66))
    rows = [r for r in _scan(data, dt.date(2025, 11, 10), _rules(tmp_path, body)) if r["subject_id"] == "HT00000004"]
    assert {r["action_code"]: r["due_date"] for r in rows} == {
        "renewal_59": dt.date(2025, 11, 16), "renewal_65": dt.date(2025, 11, 10)}
    assert all(r["owner_id"] == "E0002" and r["customer_id"] == "C000002" for r in rows)
    assert "ends on 2026-01-14" in rows[0]["reason"] and rows[0]["value_at_stake"] == pytest.approx(2880.0)


def test_a_contract_is_due_for_renewal_only_until_its_renewal_is_signed(data: Path, tmp_path: Path) -> None:
    # HT00000001 ends 9 Mar 2025 and was renewed (HT00000002 signed 20 Apr): due in the scan before that
    rules = _rules(tmp_path, _rule("renewal", "renewal_due", "days_before = 62"))
    listed = {r["subject_id"] for r in _scan(data, dt.date(2025, 1, 6), rules)}
    assert "HT00000001" in listed
    rules = _rules(tmp_path, _rule("renewal", "renewal_due", "days_before = 0"))
    assert "HT00000001" not in {r["subject_id"] for r in _scan(data, dt.date(2025, 5, 5), rules)}  # long gone


def test_complaint_follow_up_lists_last_weeks_resolutions_known_at_the_scan(data: Path, tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule("follow_up", "complaint_follow_up", "days_after = 3", owner="ticket_agent"))
    rows = _scan(data, MONDAY, rules)
    # TK1 resolved Mon 23 Jun 09:00 (W - 7), TK2 Sun 29 Jun 20:00 (W - 1): in; TK3 Mon 30 Jun 08:00: next week
    assert {r["subject_id"]: r["due_date"] for r in rows} == {
        "TK00000001": MONDAY, "TK00000002": dt.date(2025, 7, 2)}
    assert {r["owner_id"] for r in rows} == {"E0003"} and {r["owner_role"] for r in rows} == {"ticket_agent"}
    assert "satisfaction 2/5" in rows[0]["reason"]
    assert {r["subject_id"] for r in _scan(data, dt.date(2025, 7, 7), rules)} == {"TK00000003"}


def test_filing_deadline_for_customers_holding_a_tax_filing_contract(data: Path, tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule("filing", "filing_deadline", "days_before = 7", process="monthly_tax_filing"))
    rows = _scan(data, dt.date(2025, 7, 7), rules)  # deadline 15 Jul (the SLA file's day) in [14 Jul, 20 Jul]
    by_customer = {r["customer_id"]: r for r in rows}
    assert set(by_customer) == {"C000001", "C000002"}  # C000003's contract was terminated in February
    assert by_customer["C000001"]["due_date"] == dt.date(2025, 7, 8)
    assert "Monthly tax filing due on 2025-07-15" in by_customer["C000001"]["reason"]
    assert "1 late filing(s) in the last 6 months" in by_customer["C000001"]["reason"]
    assert _scan(data, dt.date(2025, 7, 14), rules) == []  # the next deadline is 15 Aug


def test_annual_report_deadline_and_anniversaries_including_29_february(data: Path, tmp_path: Path) -> None:
    body = (_rule("annual", "annual_report_deadline", "days_before = 30", deadline_month=6, deadline_day=30,
                  categories=["annual_report"], holding_days=400)
            + _rule("anniversary", "signup_anniversary", "days_before = 7"))
    rules = _rules(tmp_path, body)
    annual = [r for r in _scan(data, dt.date(2025, 5, 26), rules) if r["action_code"] == "annual"]
    assert [(r["customer_id"], r["event_date"], r["due_date"]) for r in annual] == [
        ("C000004", dt.date(2025, 6, 30), dt.date(2025, 5, 31))]
    leap = [r for r in _scan(data, dt.date(2025, 2, 17), rules) if r["action_code"] == "anniversary"]
    assert [(r["customer_id"], r["event_date"]) for r in leap] == [("C000004", dt.date(2025, 2, 28))]
    assert leap[0]["reason"] == "1st anniversary as a customer on 2025-02-28"
    june = [r for r in _scan(data, dt.date(2025, 5, 19), rules) if r["action_code"] == "anniversary"]
    assert [(r["customer_id"], r["due_date"]) for r in june] == [("C000003", dt.date(2025, 5, 25))]  # on 1 Jun


def test_a_week_rerun_gives_the_same_list_and_each_week_keeps_its_own(data: Path) -> None:
    first = _scan(data, MONDAY)
    _scan(data, dt.date(2025, 7, 7))
    again = _scan(data, MONDAY + dt.timedelta(days=3))  # any day of the week names the same week
    assert first == again and first
    with duckdb.connect(str(_settings(data).warehouse_path), read_only=True) as con:
        weeks = con.execute("select week_start, count(*) from analytics.care_actions group by 1 order by 1").fetchall()
        comments = con.execute("select count(*) from duckdb_columns() where table_name = 'care_actions' "
                               "and schema_name = 'marts' and comment is null").fetchone()[0]
    assert {MONDAY, dt.date(2025, 7, 7)} <= {w for w, _ in weeks} and dict(weeks)[MONDAY] == len(first)
    assert comments == 0  # every column described for the data dictionary


def test_offers_and_value_at_risk_come_from_the_other_marts_by_their_columns(data: Path, tmp_path: Path) -> None:
    body = (_rule("risk", "value_at_risk", "days_before = 0\noffer = true", risk_bands=["high"], top_n=5)
            + _rule("follow_up", "complaint_follow_up", "days_after = 3", owner="ticket_agent"))
    rules = _rules(tmp_path, body)
    settings = _settings(data, rules)
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        for table in ("customer_retention", "cross_sell_recommendations"):
            con.execute(f"drop table if exists marts.{table}")
        none = run_care(con, settings, Week(MONDAY))  # both marts missing: no offers, the risk rule skipped
        assert none.by_rule["risk"] == 0 and len(none.notes) == 2
        con.execute("""create table marts.customer_retention as select * from (values
            ('C000001', 'high', 0.9), ('C000002', 'low', 0.2)) t(customer_id, risk_band, risk_score)""")
        con.execute("""create table marts.cross_sell_recommendations as select * from (values
            ('C000001', 2, 'SV-ANN-BL', 'Annual report filing', 'often bought after tax filing'),
            ('C000001', 1, 'SV-REG-BL', 'Company registration', 'bought together')) t(customer_id,
            recommendation_rank, product_id, product_name, reason)""")
        result = run_care(con, settings, Week(MONDAY))
        rows = con.execute("select action_code, customer_id, value_at_stake, offer_product_id, reason "
                           "from marts.care_actions order by action_code, customer_id").fetchall()
        assert any("risk score x 365-day revenue" in n for n in result.notes)
        risk = [r for r in rows if r[0] == "risk"]
        assert [(r[1], r[3]) for r in risk] == [("C000001", "SV-REG-BL")]  # the top-ranked offer
        assert risk[0][2] == pytest.approx(0.9 * 200.0) and "churn risk high (90%)" in risk[0][4]
        assert all(r[3] is None for r in rows if r[0] == "follow_up")  # this rule makes no offer
        con.execute("alter table marts.customer_retention add column value_at_risk double default 1234.5")
        run_care(con, settings, Week(MONDAY))
        assert con.execute("select value_at_stake from marts.care_actions where action_code = 'risk'").fetchall() == [
            (1234.5,)]
    finally:
        con.close()


def test_actions_beyond_an_owners_weekly_capacity_stay_listed_but_flagged(data: Path, tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule("follow_up", "complaint_follow_up", "days_after = 3", owner="ticket_agent"))
    rows = _scan(data, MONDAY, rules, capacity=1)
    assert [(r["owner_rank"], r["within_capacity"]) for r in rows] == [(1, True), (2, False)]
