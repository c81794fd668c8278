"""A tiny, hand-made services-agency CRM source whose funnel, contracts, SLA and care answers are worked
out by hand in the tests (tests/sql/test_services_*.py). Written with the source contract's SQLAlchemy
metadata, loaded through the real pipeline."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from warehouse.ingest.source_contract import metadata

END = "2025-12-31T23:59:59"


def day(text: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(text) + timedelta(hours=hour)


def _audit(ts: datetime, updated: datetime | None = None) -> dict[str, Any]:
    return {"created_at": ts, "updated_at": updated or ts, "is_deleted": False}


# opportunity stage paths (stage, day): O2 skips qualified, O3 moves back from negotiation to proposal
OPPORTUNITIES = {
    1: ("L1", "web", 1, [("new", "2025-01-02"), ("qualified", "2025-01-05"), ("proposal", "2025-01-10"),
                         ("negotiation", "2025-01-15"), ("won", "2025-01-20")]),
    2: ("L2", "web", 1, [("new", "2025-01-03"), ("proposal", "2025-01-08"), ("negotiation", "2025-01-12"),
                         ("won", "2025-01-22")]),
    3: ("L3", "web", 1, [("new", "2025-01-04"), ("qualified", "2025-01-06"), ("proposal", "2025-01-09"),
                         ("negotiation", "2025-01-14"), ("proposal", "2025-01-16"), ("negotiation", "2025-01-20"),
                         ("lost", "2025-01-25")]),
    4: ("L4", "web", 1, [("new", "2025-01-05"), ("qualified", "2025-01-07"), ("lost", "2025-01-10")]),
    7: ("L7", "referral", 2, [("new", "2025-02-02"), ("qualified", "2025-02-04"), ("proposal", "2025-02-06"),
                              ("negotiation", "2025-02-08"), ("won", "2025-02-12")]),
}


def build_services_source(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    t = metadata.tables
    t0 = day("2023-01-01")
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in t}
    for i, role in ((1, "sales_rep"), (2, "sales_rep"), (3, "service_agent")):
        rows["employees"].append({"employee_id": i, "employee_code": f"E{i:04d}", "name": f"Employee {i}",
                                  "role": role, "team": "t", "region": "East", "hire_date": date(2020, 1, 1),
                                  **_audit(t0)})
    signups = {1: "2024-03-10", 2: "2025-01-15", 3: "2023-06-01", 4: "2024-02-29"}
    for i, signup in signups.items():
        ts = day(signup)
        rows["customers"].append({
            "customer_id": i, "customer_code": f"C{i:06d}", "name": f"Company {i}", "email": f"c{i}@example.com",
            "phone": "13800000000", "city": "Shanghai", "region": "East", "segment": "small_business",
            "acquisition_channel": "web", "status": "active", "sales_rep_id": 1 if i != 2 else 2,
            "signup_date": ts.date(), **_audit(ts)})
    products = [(1, "SV-TAX-BL", "Monthly tax filing", "tax_filing", "200.00"),
                (2, "SV-REG-BL", "Company registration", "company_registration", "1500.00"),
                (3, "SV-ANN-BL", "Annual report filing", "annual_report", "500.00")]
    for pid, code, name, category, price in products:
        rows["products"].append({"product_id": pid, "product_code": code, "name": name, "name_en": name,
                                 "category": category, "unit_price": Decimal(price), "is_merchandise": True,
                                 **_audit(t0)})
    # orders: a registration for customer 2, a tax-filing invoice for customer 1, an annual report for 4
    for oid, cust, code, price, ts in ((1, 2, "SV-REG-BL", "1500.00", day("2025-01-16", 8)),
                                       (2, 1, "SV-TAX-BL", "200.00", day("2025-05-20")),
                                       (3, 4, "SV-ANN-BL", "500.00", day("2025-03-01"))):
        rows["orders"].append({"order_id": oid, "order_number": f"SO{oid:06d}", "customer_id": cust, "order_ts": ts,
                               "channel": "web", "sales_rep_id": 1, "status": "completed",
                               "order_total": Decimal(price), "currency": "CNY", **_audit(ts)})
        rows["order_lines"].append({"order_line_id": oid, "order_id": oid, "line_number": 1, "product_code": code,
                                    "quantity": 1, "unit_price": Decimal(price), "discount": Decimal("0"),
                                    "line_amount": Decimal(price), **_audit(ts)})
        rows["payments"].append({"payment_id": oid, "order_id": oid, "customer_id": cust,
                                 "due_date": (ts + timedelta(days=15)).date(), "paid_at": ts + timedelta(days=3),
                                 "amount": Decimal(price), "method": "transfer", "contract_id": 2 if oid == 2 else None,
                                 **_audit(ts, ts + timedelta(days=3))})
    # complaints resolved around the scan of the week of Monday 2025-06-30
    for tid, cust, resolved in ((1, 1, day("2025-06-23")), (2, 2, day("2025-06-29", 20)), (3, 3, day("2025-06-30", 8))):
        opened = resolved - timedelta(hours=30)
        rows["service_tickets"].append({
            "ticket_id": tid, "ticket_number": f"TK{tid:08d}", "customer_id": cust, "order_id": None, "agent_id": 3,
            "ticket_type": "complaint", "channel": "phone", "priority": "high", "subject": "Late filing",
            "opened_at": opened, "first_response_at": opened + timedelta(hours=2), "resolved_at": resolved,
            "status": "resolved", "satisfaction": 2, **_audit(opened, resolved)})
    # leads: L1-L4 and L7 became opportunities, L5 was disqualified, L6 is still new
    leads = {"L1": ("2025-01-01", "web", 1), "L2": ("2025-01-02", "web", 1), "L3": ("2025-01-03", "web", 1),
             "L4": ("2025-01-04", "web", 1), "L5": ("2025-01-05", "web", 1), "L6": ("2025-01-06", "web", 1),
             "L7": ("2025-02-01", "referral", 2)}
    opp_of_lead = {lead: oid for oid, (lead, *_ ) in OPPORTUNITIES.items()}
    change = 0
    for n, (code, (created, channel, owner)) in enumerate(leads.items(), start=1):
        ts = day(created)
        oid = opp_of_lead.get(code)
        converted = day(OPPORTUNITIES[oid][3][0][1]) if oid else None
        won = oid is not None and OPPORTUNITIES[oid][3][-1][0] == "won"
        customer = {1: 1, 2: 2, 7: 4}.get(oid) if won else None
        disq = day("2025-01-08") if code == "L5" else None
        rows["leads"].append({
            "lead_id": n, "lead_code": code, "channel": channel, "owner_id": owner, "segment": "small_business",
            "region": "East", "status": "converted" if oid else "disqualified" if disq else "new",
            "converted_at": converted, "disqualified_at": disq, "disqualify_reason": "no_budget" if disq else None,
            "customer_id": customer, **_audit(ts, disq or converted or ts)})
        if oid is None:
            continue
        path = OPPORTUNITIES[oid][3]
        last_stage, last_day = path[-1]
        amount = Decimal("1000.00") * oid
        rows["opportunities"].append({
            "opportunity_id": oid, "opportunity_code": f"OP{oid:07d}", "lead_id": n, "customer_id": customer,
            "owner_id": owner, "product_code": "SV-TAX-BL", "amount": amount, "stage": last_stage,
            "expected_close_date": date(2025, 3, 1),
            "closed_at": day(last_day) if last_stage in ("won", "lost") else None,
            "lost_reason": "price" if last_stage == "lost" else None, **_audit(day(path[0][1]), day(last_day))})
        for stage, when in path:
            change += 1
            rows["opportunity_stage_history"].append({
                "stage_change_id": change, "opportunity_id": oid, "stage": stage, "changed_at": day(when),
                "changed_by": owner, "amount": amount, **_audit(day(when))})
    # contracts: K1 renewed late by K2 (41-day gap), K3 terminated early, K4 active with a 20% dearer quote
    contracts = [
        (1, 1, "2024-03-10", "2025-03-09", "renewed", None, None, None, None),
        (2, 1, "2025-04-20", "2026-04-19", "active", None, 1, None, None),
        (3, 3, "2024-07-01", "2025-06-30", "terminated", "2025-02-15", None, None, None),
        (4, 2, "2025-01-15", "2026-01-14", "active", None, None, "240.00", "2025-10-16"),
    ]
    for cid, cust, start, end, status, terminated, renewed_from, renewal_fee, notice in contracts:
        ts = day(start)
        rows["contracts"].append({
            "contract_id": cid, "contract_number": f"HT{cid:08d}", "customer_id": cust,
            "opportunity_id": 2 if cid == 4 else None, "product_code": "SV-TAX-BL", "owner_id": 1 if cust != 2 else 2,
            "agent_id": 3, "signed_at": ts, "start_date": date.fromisoformat(start), "end_date": date.fromisoformat(end),
            "billing_period": "monthly", "fee": Decimal("200.00"), "auto_renew": cid != 4,
            "renewal_fee": Decimal(renewal_fee) if renewal_fee else None,
            "renewal_notice_at": day(notice) if notice else None, "renewed_from_contract_id": renewed_from,
            "status": status, "terminated_at": date.fromisoformat(terminated) if terminated else None,
            "termination_reason": "customer_left" if terminated else None,
            **_audit(ts, day(terminated) if terminated else day("2025-10-16") if notice else ts)})
    # service orders: a registration (on time, 3 days late, still open past due) and a late monthly filing
    rows["service_orders"] += [
        {"service_order_id": 1, "service_order_number": "SV00000001", "order_id": 1, "contract_id": None,
         "customer_id": 2, "product_code": "SV-REG-BL", "process": "company_registration", "agent_id": 3,
         "opened_at": day("2025-01-16"), "closed_at": None, "status": "open", **_audit(day("2025-01-16"), day("2025-01-28"))},
        {"service_order_id": 2, "service_order_number": "SV00000002", "order_id": 2, "contract_id": 2,
         "customer_id": 1, "product_code": "SV-TAX-BL", "process": "monthly_tax_filing", "agent_id": 3,
         "opened_at": day("2025-05-20"), "closed_at": day("2025-06-17"), "status": "done",
         **_audit(day("2025-05-20"), day("2025-06-17"))},
    ]
    steps = [(1, 1, 1, "name_check", "2025-01-16", "2025-01-19", "2025-01-18"),
             (2, 1, 2, "documents", "2025-01-18", "2025-01-25", "2025-01-28"),
             (3, 1, 3, "submission", "2025-01-28", "2025-01-31", None),
             (4, 2, 1, "tax_declaration", "2025-05-20", "2025-06-15", "2025-06-17")]
    for sid, so, number, code, started, due, done in steps:
        due_at = day(due, 0) + timedelta(hours=23, minutes=59, seconds=59) if code == "tax_declaration" else day(due)
        rows["service_steps"].append({
            "step_id": sid, "service_order_id": so, "step_number": number, "step_code": code, "agent_id": 3,
            "started_at": day(started), "due_at": due_at, "completed_at": day(done) if done else None,
            "status": "done" if done else "in_progress", **_audit(day(started), day(done) if done else day(started))})
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if rows[table.name]:
                conn.execute(table.insert(), rows[table.name])
    engine.dispose()
    return {name: len(r) for name, r in rows.items()}


def load_services_template(directory: Path) -> dict[str, int]:
    """Build the tiny source in ``directory`` (a data dir) and load it through the pipeline, isolated from
    the caller's CRMWH_ environment; returns the source's row counts."""
    from ingest_support import load_template

    # the hand-made agency bills in CNY and reports in CNY (its worked answers are in CNY): declared in the
    # data directory's crmwh.toml, so every process on this directory (CLI, Airflow tasks) reads it
    (directory / "crmwh.toml").write_text('[currency]\nreporting_currency = "CNY"\n', encoding="utf-8")
    return load_template(directory, END, build_services_source)
