"""The services agency's tables when the demo business moves forward (``crmwh demo advance``).

Called from small hooks in ``warehouse.demo.advance`` for a source with contracts. In the window
(old clock, new clock]:

- contracts: customers who churn terminate their contracts; renewal quotes go out 90 days before the end;
  terms that end are renewed or not as the ground truth planted (``services.renewal.outcome_by_contract``;
  terms the generator did not decide are decided here by the same logit on what the source shows and
  added to it); renewals start on their planted date (after a gap for some) and are recorded on their
  first day; recurring invoices follow the contracts, bill the term's fee and name their contract;
- service orders and steps: new sold lines open their processes (``warehouse/core/rules/service_sla.toml``),
  open steps are done (late or not) and the next step starts;
- the funnel: each new customer comes from a lead and an opportunity won on its signup; new leads
  arrive at the planted per-channel daily rate; open opportunities move to their next stage or are lost.

Every inserted or updated row's ``updated_at`` is inside the window, as for the other tables.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from warehouse.core.rules import load_service_processes, process_by_category
from warehouse.demo.config import DAY, EPOCH
from warehouse.demo.services import (
    AUTO_RENEW_SHARE,
    DRIVER_CAP,
    DRIVER_WINDOW_DAYS,
    FILING_BASE,
    FILING_SD,
    LATE_RENEWAL_GAP_DAYS,
    LATE_RENEWAL_SHARE,
    LOST_AT_STAGE,
    LOST_REASONS,
    NON_WON_LEAD_LEAD_DAYS,
    NOTICE_DAYS,
    OPEN_STAGES,
    RENEWAL_COEFFICIENTS,
    STEP_MEDIAN_SHARE,
    STEP_SIGMA,
    TERM_DAYS,
    TERMINATION_REASONS,
    UPLIFT_RANGE,
    UPLIFT_SHARE,
    next_month_day,
)
from warehouse.demo.writer import NULL_DATE, NULL_INT, NULL_TS
from warehouse.ingest import source_contract as schema

if TYPE_CHECKING:
    from warehouse.demo.advance import _Advancer

EPOCH_DT = dt.datetime(1970, 1, 1)


def _sec(value: dt.datetime | dt.date | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return int((value - EPOCH_DT).total_seconds())
    return (value - EPOCH).days * DAY


def _day(value: dt.date | dt.datetime | None) -> int | None:
    s = _sec(value)
    return None if s is None else s // DAY


def _dt(seconds: int) -> dt.datetime:
    return EPOCH_DT + dt.timedelta(seconds=int(seconds))


def _date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def _cents(value: Any) -> int | None:
    return None if value is None else int(round(float(value) * 100))


class ServicesAdvance:
    """Reads the services state of the source once, decides the window's contract events before the
    orders are drawn, and adds the rest after them."""

    def __init__(self, adv: _Advancer, truth: dict[str, Any] | None) -> None:
        self.a = adv
        self.rng = adv.rng
        self.old, self.new = adv.old, adv.new
        self.truth = truth
        services = (truth or {}).get("services") or {}
        renewal = services.setdefault("renewal", {}) if truth is not None else {}
        self.outcomes: dict[str, Any] = renewal.setdefault("outcome_by_contract", {}) if truth is not None else {}
        self.pending: dict[str, str] = renewal.setdefault("pending_starts", {}) if truth is not None else {}
        self.funnel_truth = services.get("funnel") or {}
        self.processes = load_service_processes()
        self.by_category = process_by_category(self.processes)
        self.category = dict(zip(adv.catalog.codes.tolist(), adv.catalog.categories.tolist(), strict=True))
        self.updates: dict[str, dict[int, dict[str, Any]]] = {}
        self.new_rows: dict[str, list[dict[str, Any]]] = {}
        self.counts = {"renewed": 0, "not_renewed": 0, "terminated": 0, "notices": 0}

    # helpers ------------------------------------------------------------------------------------
    def _update(self, table: str, key: int, ts: int, **values: Any) -> None:
        ts = min(max(int(ts), self.old + 1), self.new)
        row = self.updates.setdefault(table, {}).setdefault(int(key), {"b_id": int(key)})
        row.update(values)
        row["updated_at"] = max(row.get("updated_at", _dt(ts)), _dt(ts))

    def _insert(self, table: str, **values: Any) -> int:
        rows = self.new_rows.setdefault(table, [])
        pk = schema.PRIMARY_KEYS[table]
        values[pk] = self.a.ids[table] + len(rows) + 1
        rows.append(values)
        return values[pk]

    def _in_window(self, ts: int) -> bool:
        return self.old < ts <= self.new

    # contracts (before the orders) ----------------------------------------------------------------
    def prepare(self) -> None:
        a = self.a
        k = schema.contracts
        with a.engine.connect() as conn:
            rows = conn.execute(sa.select(
                k.c.contract_id, k.c.contract_number, k.c.customer_id, k.c.product_code, k.c.owner_id, k.c.agent_id,
                k.c.start_date, k.c.end_date, k.c.fee, k.c.auto_renew, k.c.renewal_fee, k.c.status,
                k.c.terminated_at, k.c.billing_period).where(k.c.is_deleted.is_(False))
                .order_by(k.c.contract_id)).all()
            self.complaints = dict(conn.execute(
                sa.select(schema.service_tickets.c.customer_id, sa.func.count())
                .where(schema.service_tickets.c.ticket_type == "complaint",
                       schema.service_tickets.c.opened_at > _dt(self.old - DRIVER_WINDOW_DAYS * DAY))
                .group_by(schema.service_tickets.c.customer_id)).all())
            so, st = schema.service_orders, schema.service_steps
            monthly = [p for p, proc in self.processes.items() if proc.is_monthly]
            self.late_filings = dict(conn.execute(
                sa.select(so.c.customer_id, sa.func.count()).join(st, st.c.service_order_id == so.c.service_order_id)
                .where(so.c.process.in_(monthly), st.c.due_at > _dt(self.old - DRIVER_WINDOW_DAYS * DAY),
                       sa.or_(st.c.completed_at.is_(None), st.c.completed_at > st.c.due_at),
                       st.c.due_at <= _dt(self.old))
                .group_by(so.c.customer_id)).all())
        self.contracts = [dict(r._mapping) for r in rows]
        self.by_number = {c["contract_number"]: c for c in self.contracts}
        cust_pos = {int(c): i for i, c in enumerate(a.cust_id.tolist())}
        price = dict(zip(a.prod_code.tolist(), a.new_price.tolist(), strict=True))
        # the window's events, per contract
        for c in self.contracts:
            if c["status"] != "active":
                continue
            end = _day(c["end_date"])
            i = cust_pos.get(int(c["customer_id"]))
            churn = int(a.churn_at[i]) if i is not None else np.iinfo(np.int64).max
            if self._in_window(churn) and churn // DAY <= end:
                day = max(churn // DAY, _day(c["start_date"]))
                self._update("contracts", c["contract_id"], churn, status="terminated", terminated_at=_date(day),
                             termination_reason=TERMINATION_REASONS[int(self.rng.integers(len(TERMINATION_REASONS)))])
                c["status"], c["terminated_at"] = "terminated", _date(day)
                self.counts["terminated"] += 1
                continue
            notice = (end - NOTICE_DAYS) * DAY + 10 * 3600
            if self._in_window(notice) and c["renewal_fee"] is None:
                uplift = self.rng.uniform(*UPLIFT_RANGE) if self.rng.random() < UPLIFT_SHARE else 0.0
                quote = max(int(round(price.get(c["product_code"].strip(), _cents(c["fee"])) * (1 + uplift))), 1)
                c["renewal_fee"] = quote / 100.0
                self._update("contracts", c["contract_id"], notice, renewal_fee=_money(quote),
                             renewal_notice_at=_dt(notice))
                self.counts["notices"] += 1
            if self._in_window((end + 1) * DAY + 1):
                self._end_of_term(c)
        for number, start_iso in list(self.pending.items()):
            start = _day(dt.date.fromisoformat(start_iso))
            prev = self.by_number.get(number)
            if prev is not None and self._in_window(start * DAY + 9 * 3600):
                self._renewal(prev, start)
                del self.pending[number]
        self._index()

    def _decide(self, c: dict[str, Any]) -> tuple[bool, int]:
        """(renewed, next start day) of a contract whose term ends now: as planted, else drawn."""
        end = _day(c["end_date"])
        planted = self.outcomes.get(c["contract_number"])
        if planted is not None:
            start = planted.get("next_start_date")
            return bool(planted["renewed"]), (_day(dt.date.fromisoformat(start)) if start else end + 1)
        # not decided by the generator: the same process on what the source shows
        coef = RENEWAL_COEFFICIENTS
        cust = int(c["customer_id"])
        rise = (_cents(c["renewal_fee"]) or _cents(c["fee"])) / max(_cents(c["fee"]) or 1, 1) - 1.0
        logit = (coef["intercept"] + coef["late_filings"] * min(self.late_filings.get(cust, 0), DRIVER_CAP)
                 + coef["complaints"] * min(self.complaints.get(cust, 0), DRIVER_CAP)
                 + coef["price_rise_per_10pct"] * rise / 0.10 + coef["auto_renew"] * bool(c["auto_renew"]))
        p = 1.0 / (1.0 + math.exp(-logit))
        renewed = bool(self.rng.random() >= p)
        gap = int(self.rng.integers(*LATE_RENEWAL_GAP_DAYS)) if self.rng.random() < LATE_RENEWAL_SHARE else 0
        self.outcomes[c["contract_number"]] = {
            "customer_id": f"C{cust:06d}", "end_date": _date(end).isoformat(), "renewed": renewed,
            "next_start_date": _date(end + 1 + gap).isoformat() if renewed else None, "p_non_renewal": round(p, 4),
            "after_clock": True, "decided_by": "advance", "late_filings": self.late_filings.get(cust, 0),
            "complaints": self.complaints.get(cust, 0), "price_rise": round(rise, 4), "auto_renew": bool(c["auto_renew"])}
        return renewed, end + 1 + gap

    def _end_of_term(self, c: dict[str, Any]) -> None:
        end = _day(c["end_date"])
        renewed, start = self._decide(c)
        if renewed and self._in_window(start * DAY + 9 * 3600):
            self._renewal(c, start)
            return
        self._update("contracts", c["contract_id"], (end + 1) * DAY + 1, status="expired")
        c["status"] = "expired"
        if renewed:
            self.pending[c["contract_number"]] = _date(start).isoformat()
        else:
            self.counts["not_renewed"] += 1

    def _renewal(self, prev: dict[str, Any], start: int) -> None:
        signed = start * DAY + 9 * 3600
        fee = _cents(prev["renewal_fee"]) or _cents(prev["fee"])
        auto = bool(prev["auto_renew"]) if self.rng.random() >= 0.1 else not bool(prev["auto_renew"])
        new_id = self._insert(
            "contracts", contract_number=None, customer_id=int(prev["customer_id"]), opportunity_id=NULL_INT,
            product_code=prev["product_code"], owner_id=prev["owner_id"] if prev["owner_id"] is not None else NULL_INT,
            agent_id=prev["agent_id"] if prev["agent_id"] is not None else NULL_INT, signed_at=signed, start_date=start,
            end_date=start + TERM_DAYS - 1, billing_period=prev["billing_period"], fee=fee, auto_renew=auto,
            renewal_fee=NULL_INT, renewal_notice_at=NULL_TS, renewed_from_contract_id=int(prev["contract_id"]),
            status="active", terminated_at=NULL_DATE, termination_reason=None, created_at=signed, updated_at=signed,
            is_deleted=False)
        self.new_rows["contracts"][-1]["contract_number"] = f"HT{new_id:08d}"
        self._update("contracts", prev["contract_id"], signed, status="renewed")
        self.contracts.append({"contract_id": new_id, "contract_number": f"HT{new_id:08d}",
                               "customer_id": prev["customer_id"], "product_code": prev["product_code"],
                               "agent_id": prev["agent_id"], "start_date": _date(start),
                               "end_date": _date(start + TERM_DAYS - 1), "fee": fee / 100.0, "status": "active",
                               "terminated_at": None})
        self.counts["renewed"] += 1

    def _index(self) -> None:
        """(customer, product) -> contract terms in force, for the invoice hooks."""
        self.terms: dict[tuple[int, str], list[tuple[int, int, int, int, int | None]]] = {}
        for c in self.contracts:
            last = _day(c["terminated_at"]) if c.get("terminated_at") is not None else _day(c["end_date"])
            key = (int(c["customer_id"]), str(c["product_code"]).strip())
            agent = int(c["agent_id"]) if c.get("agent_id") is not None else None
            self.terms.setdefault(key, []).append((_day(c["start_date"]), last, _cents(c["fee"]), int(c["contract_id"]),
                                                   agent))

    def _term(self, cust: int, product: str, ts: int) -> tuple[int, int, int, int, int | None] | None:
        day = int(ts) // DAY
        for term in self.terms.get((int(cust), str(product).strip()), []):
            if term[0] <= day <= term[1]:
                return term
        return None

    # hooks of the orders ----------------------------------------------------------------------------
    def billing_active(self, cust: int, products: list[str], ts: int) -> bool:
        return any(self._term(cust, p, ts) is not None for p in products)

    def invoice_prices(self, recurring: np.ndarray, cust: np.ndarray, products: list[str], ts: np.ndarray,
                       price: np.ndarray) -> np.ndarray:
        out = price.copy()
        for j in np.nonzero(recurring)[0].tolist():
            term = self._term(int(cust[j]), products[j], int(ts[j]))
            if term is not None:
                out[j] = term[2]
        return out

    def payment_contracts(self, recurring: np.ndarray, cust: np.ndarray, products: list[str], ts: np.ndarray) -> np.ndarray:
        out = np.full(len(cust), NULL_INT, dtype=np.int64)
        for j in np.nonzero(recurring)[0].tolist():
            term = self._term(int(cust[j]), products[j], int(ts[j]))
            if term is not None:
                out[j] = term[3]
        return out

    # after the orders: service delivery and the funnel ------------------------------------------------
    def finish(self) -> None:
        self._new_service_orders()
        self._progress_steps()
        self._funnel()

    def _step_done(self, step: Any, start: int, due: int, agent_slow: float) -> int:
        if step.due_day_of_next_month is not None:
            late = int(np.rint(self.rng.normal(FILING_BASE, FILING_SD)))
            return max((due // DAY + late) * DAY + int(self.rng.integers(9 * 3600, 18 * 3600)), start + 3600)
        median = STEP_MEDIAN_SHARE * float(step.sla_days) * agent_slow
        return start + int(max(1800, math.exp(math.log(median) + self.rng.normal(0.0, STEP_SIGMA)) * DAY))

    def _due(self, step: Any, start: int, order_ts: int) -> int:
        if step.due_day_of_next_month is not None:
            return int(next_month_day(np.array([order_ts]), int(step.due_day_of_next_month))[0]) * DAY + DAY - 1
        return start + int(step.sla_days) * DAY

    def _run_steps(self, so_id: int, process: Any, first: int, start: int, order_ts: int, agent: int) -> None:
        """Insert the steps from number ``first`` on, as far as the new clock; close the order when done."""
        for k in range(first - 1, len(process.steps)):
            step = process.steps[k]
            if start > self.new:
                return
            due = self._due(step, start, order_ts)
            done = self._step_done(step, start, due, 1.0)
            finished = done <= self.new
            self._insert("service_steps", service_order_id=so_id, step_number=k + 1, step_code=step.code,
                         agent_id=agent, started_at=start, due_at=due, completed_at=done if finished else NULL_TS,
                         status="done" if finished else "in_progress", created_at=start,
                         updated_at=done if finished else start, is_deleted=False)
            if not finished:
                return
            start = done + int(self.rng.integers(600, 6 * 3600))
        self._close(so_id, done)

    def _close(self, so_id: int, when: int) -> None:
        for row in self.new_rows.get("service_orders", []):
            if row["service_order_id"] == so_id:
                row.update(status="done", closed_at=when, updated_at=max(row["updated_at"], when))
                return
        self._update("service_orders", so_id, when, status="done", closed_at=_dt(when))

    def _new_service_orders(self) -> None:
        a = self.a
        orders = a.inserted.get("orders")
        lines = a.inserted.get("order_lines")
        if not orders or not lines or len(lines["order_line_id"]) == 0:
            return
        o_ids = np.asarray(orders["order_id"])
        status = orders["status"].to_pylist()
        pos = {int(o): i for i, o in enumerate(o_ids.tolist())}
        codes = lines["product_code"].to_pylist()
        agents = a.agents
        for j, oid in enumerate(np.asarray(lines["order_id"]).tolist()):
            i = pos[int(oid)]
            process = self.by_category.get(self.category.get(codes[j].strip(), ""))
            if process is None or status[i] == "cancelled" or int(lines["quantity"][j]) <= 0:
                continue
            cust = int(orders["customer_id"][i])
            ts = int(orders["order_ts"][i])
            opened = ts + int(self.rng.integers(600, 4 * 3600))
            if opened > self.new:
                continue
            term = self._term(cust, codes[j], ts) if cust != NULL_INT and process.is_monthly else None
            agent = term[4] if term is not None and term[4] is not None else int(agents[self.rng.integers(len(agents))])
            so_id = self._insert("service_orders", service_order_number=None, order_id=int(oid),
                                 contract_id=term[3] if term is not None else NULL_INT,
                                 customer_id=cust, product_code=codes[j].strip(), process=process.code,
                                 agent_id=agent, opened_at=opened, closed_at=NULL_TS, status="open", created_at=opened,
                                 updated_at=opened, is_deleted=False)
            self.new_rows["service_orders"][-1]["service_order_number"] = f"SV{so_id:08d}"
            self._run_steps(so_id, process, 1, opened, ts, agent)

    def _progress_steps(self) -> None:
        a = self.a
        so, st = schema.service_orders, schema.service_steps
        with a.engine.connect() as conn:
            open_steps = conn.execute(
                sa.select(st.c.step_id, st.c.service_order_id, st.c.step_number, st.c.agent_id, st.c.started_at,
                          st.c.due_at, so.c.process, so.c.opened_at)
                .join(so, so.c.service_order_id == st.c.service_order_id)
                .where(st.c.status == "in_progress", st.c.is_deleted.is_(False)).order_by(st.c.step_id)).all()
        for step_id, so_id, number, agent, started, due, code, opened in open_steps:
            process = self.processes.get(code)
            if process is None or number > len(process.steps):
                continue
            step = process.steps[number - 1]
            start, due_s = _sec(started), _sec(due)
            done = self._step_done(step, start, due_s, 1.0)
            if done <= self.old:  # overdue work done now
                done = self.old + 1 + int(self.rng.random() * (self.new - self.old - 1))
            if done > self.new:
                continue
            self._update("service_steps", step_id, done, completed_at=_dt(done), status="done")
            if number == len(process.steps):
                self._close(int(so_id), done)
                continue
            nxt = done + int(self.rng.integers(600, 6 * 3600))
            self._run_steps(int(so_id), process, number + 1, nxt, _sec(opened), int(agent) if agent else NULL_INT)

    def _funnel(self) -> None:
        a = self.a
        rng = self.rng
        o, h, ld = schema.opportunities, schema.opportunity_stage_history, schema.leads
        with a.engine.connect() as conn:
            open_opps = conn.execute(sa.select(o.c.opportunity_id, o.c.stage, o.c.owner_id, o.c.amount)
                                     .where(o.c.stage.in_(list(OPEN_STAGES)), o.c.is_deleted.is_(False))
                                     .order_by(o.c.opportunity_id)).all()
        # new customers: a lead and an opportunity won on their signup
        customers = a.inserted.get("customers")
        if customers is not None:
            one_off = [c for c in a.catalog.codes.tolist() if self.category.get(c) and
                       not (self.by_category.get(self.category[c]) and self.by_category[self.category[c]].is_monthly)]
            for j, cid in enumerate(np.asarray(customers["customer_id"]).tolist()):
                signup = int(customers["created_at"][j])
                lo = max(self.old + 1, signup - 30 * DAY)
                times = sorted(int(lo + rng.random() * (signup - lo)) for _ in range(4)) + [signup]
                rep = int(customers["sales_rep_id"][j])
                lead = self._lead(times[0], customers["acquisition_channel"][j].as_py(), rep, "converted",
                                  customer=int(cid), updated=signup, converted=times[1],
                                  segment=customers["segment"][j].as_py(), region=customers["region"][j].as_py())
                code = one_off[int(rng.integers(len(one_off)))] if one_off else a.prod_code[0]
                amount = int(a.new_price[list(a.prod_code).index(code)]) if code in a.prod_code else 100000
                self._opportunity(lead, rep, code, amount, list(zip(("new", "qualified", "proposal", "negotiation", "won"),
                                                                      times[1:] + [signup], strict=False)), customer=int(cid))
        # new leads at the planted per-channel daily rate (open, some already opportunities)
        rates = self.funnel_truth.get("conversion_by_channel") or {}
        span = max((a.state.end_date - a.state.start_date).days + NON_WON_LEAD_LEAD_DAYS, 1)
        for channel, planted in rates.items():
            per_day = (planted.get("leads", 0) - planted.get("won", 0)) / span
            for _ in range(int(rng.poisson(per_day * a.days))):
                created = int(self.old + 1 + rng.random() * (self.new - self.old - 1))
                rep = int(a.reps[rng.integers(len(a.reps))])
                if rng.random() < planted.get("lead_to_opportunity", 0.4) and created + DAY <= self.new:
                    lead = self._lead(created, channel, rep, "converted", converted=created + DAY, updated=created + DAY)
                    code = a.prod_code[int(rng.integers(len(a.prod_code)))]
                    self._opportunity(lead, rep, code, 100000, [("new", created + DAY)])
                else:
                    self._lead(created, channel, rep, "new", updated=created)
        # open opportunities move on: the next stage, or lost (a win needs a new customer: see above)
        for oid, stage, owner, amount in open_opps:
            if rng.random() >= 1 - math.exp(-a.days / 10.0):
                continue
            when = self.old + 1 + int(rng.random() * (self.new - self.old - 1))
            lost = stage == "negotiation" or rng.random() < LOST_AT_STAGE.get(stage, 0.3)
            nxt = "lost" if lost else OPEN_STAGES[OPEN_STAGES.index(stage) + 1]
            self._insert("opportunity_stage_history", opportunity_id=int(oid), stage=nxt, changed_at=when,
                         changed_by=int(owner) if owner else NULL_INT, amount=_cents(amount) or 0, created_at=when,
                         updated_at=when, is_deleted=False)
            extra = {"closed_at": _dt(when), "lost_reason": LOST_REASONS[int(rng.integers(len(LOST_REASONS)))][0]} if lost else {}
            self._update("opportunities", int(oid), when, stage=nxt, **extra)
        del ld, h

    def _lead(self, created: int, channel: str, rep: int, status: str, *, customer: int | None = None,
              updated: int, converted: int | None = None, segment: str | None = None,
              region: str | None = None) -> int:
        lead_id = self._insert("leads", lead_code=None, channel=channel, owner_id=rep, segment=segment, region=region,
                               status=status, converted_at=converted if converted is not None else NULL_TS,
                               disqualified_at=NULL_TS, disqualify_reason=None,
                               customer_id=customer if customer is not None else NULL_INT, created_at=created,
                               updated_at=updated, is_deleted=False)
        self.new_rows["leads"][-1]["lead_code"] = f"L{lead_id:07d}"
        return lead_id

    def _opportunity(self, lead: int, rep: int, code: str, amount: int, path: list[tuple[str, int]], *,
                     customer: int | None = None) -> None:
        won = path[-1][0] == "won"
        opp = self._insert("opportunities", opportunity_code=None, lead_id=lead,
                           customer_id=customer if won and customer is not None else NULL_INT, owner_id=rep,
                           product_code=code, amount=amount, stage=path[-1][0],
                           expected_close_date=path[0][1] // DAY + 30, closed_at=path[-1][1] if won else NULL_TS,
                           lost_reason=None, created_at=path[0][1], updated_at=path[-1][1], is_deleted=False)
        self.new_rows["opportunities"][-1]["opportunity_code"] = f"OP{opp:07d}"
        for stage, when in path:
            self._insert("opportunity_stage_history", opportunity_id=opp, stage=stage, changed_at=when,
                         changed_by=rep, amount=amount, created_at=when, updated_at=when, is_deleted=False)

    # out ----------------------------------------------------------------------------------------
    def tables(self) -> dict[str, dict[str, Any]]:
        """The inserted rows as generator columns, by table."""
        out = {}
        for name, rows in self.new_rows.items():
            if not rows:
                continue
            table = schema.metadata.tables[name]
            cols: dict[str, Any] = {}
            for column in table.columns:
                values = [r.get(column.name) for r in rows]
                if isinstance(column.type, sa.String | sa.Text):
                    cols[column.name] = pa.array([None if v is None else str(v) for v in values], pa.string())
                elif isinstance(column.type, sa.Boolean):
                    cols[column.name] = np.array([bool(v) for v in values])
                else:
                    null = NULL_TS if isinstance(column.type, sa.DateTime) else NULL_INT
                    cols[column.name] = np.array([null if v is None else int(v) for v in values], dtype=np.int64)
            out[name] = cols
        return out

    def update_rows(self) -> dict[str, list[dict[str, Any]]]:
        return {name: list(rows.values()) for name, rows in self.updates.items()}


def _money(cents: int) -> Any:
    from decimal import Decimal

    return Decimal(int(cents)).scaleb(-2)


def plan_advance(adv: _Advancer, truth: dict[str, Any] | None) -> ServicesAdvance | None:
    """The services part of an advance: None for a source without contracts (a shop)."""
    with adv.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(schema.contracts)).scalar_one()
    if not n:
        return None
    work = ServicesAdvance(adv, truth)
    work.prepare()
    return work


__all__ = ["AUTO_RENEW_SHARE", "ServicesAdvance", "plan_advance"]
