"""Move the demo business forward (``crmwh demo advance --days N``).

Starting from the business clock in ``demo_state``, the window (clock, clock + N days] gets new
customers, orders with their lines and payments, new tickets, responses and resolutions of open
tickets, payments of open invoices, attribute changes (segment, city, status, sales rep), product price
changes, follow-up contacts and a few soft deletes. Rows are only inserted or updated, and every
inserted or updated row gets an ``updated_at`` inside the window, strictly later than the old clock, so
incremental extraction has exactly this work to do. Customers whose true churn date (ground truth)
has passed place no new orders: the dates the generator planted (up to ``churn.planted_until``,
past the end of the history) are replayed, and only beyond them new churn events are drawn and added
to the ground truth.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from warehouse.demo import taste, vocab
from warehouse.demo.churn_future import planted_window
from warehouse.demo.config import DAY, EPOCH, DemoError, get_profile, get_scale, load_catalog
from warehouse.demo.generator import (
    CHURN_BASE_MONTHLY_HAZARD,
    CHURN_COEFFICIENTS,
    PERIOD_DAYS,
    _choice_idx,
    _company_names,
    _first_occurrences,
    _fmt_ids,
    _people_names,
    _phones,
    _strings,
)
from warehouse.demo.state import DemoState, read_state, write_state
from warehouse.demo.writer import NULL_INT, NULL_TS, BulkWriter
from warehouse.ingest import source_contract as schema

EPOCH_DT = dt.datetime(1970, 1, 1)
MAX_ADVANCE_DAYS = 366


@dataclass
class AdvanceResult:
    old_clock: dt.datetime
    new_clock: dt.datetime
    inserted: dict[str, int]
    updated: dict[str, int]


def _sec(value: dt.datetime | dt.date | None) -> int:
    if value is None:
        return NULL_TS
    if isinstance(value, dt.datetime):
        return int((value - EPOCH_DT).total_seconds())
    return (value - EPOCH).days * DAY


def _dt(seconds: int | np.integer) -> dt.datetime:
    return EPOCH_DT + dt.timedelta(seconds=int(seconds))


def _column(rows: list[Any], i: int, dtype: Any = np.int64, null: Any = NULL_INT) -> np.ndarray:
    return np.array([null if r[i] is None else r[i] for r in rows], dtype=dtype)


class _Advancer:
    def __init__(self, engine: sa.Engine, state: DemoState, days: int, seed: int,
                 ground_truth: dict[str, Any] | None) -> None:
        self.engine = engine
        self.state = state
        self.days = days
        self.rng = np.random.default_rng([seed, state.advance_count + 1, zlib.crc32(b"advance")])
        self.profile = get_profile(state.profile)
        self.scale = get_scale(state.scale)
        self.catalog = load_catalog(self.profile)
        self.old = _sec(state.business_clock)
        self.new = self.old + days * DAY
        self.truth = ground_truth
        self.inserted: dict[str, dict[str, Any]] = {}
        self.updates: dict[str, list[dict[str, Any]]] = {}

    def times(self, n: int) -> np.ndarray:
        """Uniform instants in (old clock, new clock]."""
        return self.old + 1 + (self.rng.random(n) * (self.new - self.old - 1)).astype(np.int64)

    def later(self, base: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """``base`` plus a delay, never at or before the old clock."""
        return np.maximum(base, self.old + 1) + np.rint(hours * 3600).astype(np.int64)

    def max_id(self, conn: sa.Connection, table: str) -> int:
        pk = schema.PRIMARY_KEYS[table]
        return int(conn.execute(sa.text(f"select coalesce(max({pk}), 0) from {table}")).scalar_one())  # noqa: S608

    def run(self) -> None:
        with self.engine.connect() as conn:
            self.ids = {t: self.max_id(conn, t) for t in schema.SOURCE_TABLES}
            c, o, tk, p = schema.customers, schema.orders, schema.service_tickets, schema.products
            cust = conn.execute(sa.select(c.c.customer_id, c.c.segment, c.c.status, c.c.sales_rep_id,
                                          c.c.is_deleted, c.c.customer_code).order_by(c.c.customer_id)).all()
            recent = dict(conn.execute(
                sa.select(o.c.customer_id, sa.func.count())
                .where(o.c.customer_id.is_not(None), o.c.order_ts > _dt(self.old - 180 * DAY))
                .group_by(o.c.customer_id)).all())
            complaints = dict(conn.execute(
                sa.select(tk.c.customer_id, sa.func.count())
                .where(tk.c.ticket_type == "complaint", tk.c.opened_at > _dt(self.old - 120 * DAY))
                .group_by(tk.c.customer_id)).all())
            prods = conn.execute(
                sa.select(p.c.product_id, p.c.product_code, p.c.unit_price, p.c.is_merchandise)
                .where(p.c.is_deleted.is_(False)).order_by(p.c.product_id)).all()
            tk = schema.service_tickets
            self.open_tickets = conn.execute(
                sa.select(tk.c.ticket_id, tk.c.customer_id, tk.c.agent_id, tk.c.opened_at,
                          tk.c.first_response_at, tk.c.ticket_type)
                .where(tk.c.status.in_(["open", "in_progress"]), tk.c.is_deleted.is_(False))
                .order_by(tk.c.ticket_id)).all()
            pay = schema.payments
            self.unpaid = conn.execute(
                sa.select(pay.c.payment_id, pay.c.due_date)
                .where(pay.c.paid_at.is_(None), pay.c.is_deleted.is_(False))
                .order_by(pay.c.payment_id)).all()
            emp = schema.employees
            self.employees = conn.execute(
                sa.select(emp.c.employee_id, emp.c.role).where(emp.c.is_deleted.is_(False))
                .order_by(emp.c.employee_id)).all()
            self.recurring_rows: list[Any] = []
            monthly = sorted(set(self.catalog.codes[self.catalog.billing == "monthly"].tolist()))
            if self.profile.recurring_share > 0 and monthly:
                ol = schema.order_lines
                # with contracts, invoices paused by a late renewal resume: look back further (the
                # contracts decide who is billed, see warehouse.demo.services_advance)
                has_contracts = conn.execute(sa.select(sa.func.count()).select_from(schema.contracts)).scalar_one()
                lookback = (100 if has_contracts else 45) * DAY
                self.recurring_rows = conn.execute(
                    sa.select(o.c.customer_id, o.c.order_ts, sa.func.trim(ol.c.product_code))
                    .join(ol, ol.c.order_id == o.c.order_id)
                    .where(o.c.customer_id.is_not(None), o.c.order_ts > _dt(self.old - lookback),
                           o.c.status != "cancelled", ol.c.quantity > 0,
                           sa.func.trim(ol.c.product_code).in_(monthly))
                    .order_by(o.c.customer_id, o.c.order_ts)).all()
            it = schema.interactions
            self.interaction_ids = conn.execute(
                sa.select(it.c.interaction_id)
                .where(it.c.is_deleted.is_(False), it.c.occurred_at > _dt(self.old - 60 * DAY))
                .order_by(it.c.interaction_id)).scalars().all()
        self.cust_id = _column(cust, 0)
        self.cust_segment = np.array([r[1] for r in cust], dtype=object)
        self.cust_status = np.array([r[2] for r in cust], dtype=object)
        self.cust_rep = _column(cust, 3)
        self.cust_deleted = np.array([bool(r[4]) for r in cust])
        self.cust_code = [r[5] for r in cust]
        self.recent_orders = np.array([recent.get(int(i), 0) for i in self.cust_id], dtype=np.float64)
        self.recent_complaints = np.array([complaints.get(int(i), 0) for i in self.cust_id], dtype=np.float64)
        self.prod_id = _column(prods, 0)
        self.prod_code = np.array([r[1].strip() for r in prods], dtype=object)
        self.prod_price = np.array([int(round(float(r[2]) * 100)) for r in prods], dtype=np.int64)
        self.prod_merch = np.array([bool(r[3]) for r in prods])
        self.reps = np.array([r[0] for r in self.employees if r[1] == "sales_rep"], dtype=np.int64)
        self.agents = np.array([r[0] for r in self.employees if r[1] == "service_agent"], dtype=np.int64)
        if len(self.reps) == 0 or len(self.agents) == 0 or len(self.prod_id) == 0:
            raise DemoError("the source has no sales reps, service agents or products; regenerate it")
        self.churn_step()
        self.price_changes()
        self.services = None  # the services agency's contracts decide the window's renewals first
        if self.profile.recurring_share > 0:
            from warehouse.demo.services_advance import plan_advance

            self.services = plan_advance(self, self.truth)
        self.new_customers()
        self.orders()
        self.ticket_work()
        self.new_tickets()
        self.invoice_payments()
        self.attribute_changes()
        self.interactions()
        if self.services is not None:  # service orders and steps, the funnel
            self.services.finish()
            self.inserted.update(self.services.tables())
            for name, rows in self.services.update_rows().items():
                self.updates.setdefault(name, []).extend(rows)

    # churn -------------------------------------------------------------------------------------
    def churn_step(self) -> None:
        """Who churns by the new clock: the planted dates of the ground truth, then new draws.

        Dates planted by the generator (history and the planted future up to ``churn.planted_until``)
        are replayed as they are: a customer planted to churn on day D places nothing from D on. New
        churn events are drawn only for the part of the window past ``planted_until`` and only for
        customers without a planted date; they are added to the ground truth.
        """
        n = len(self.cust_id)
        never = np.iinfo(np.int64).max
        planted = np.full(n, never, dtype=np.int64)
        dates: dict[str, Any] = {}
        if self.truth is not None:
            dates = self.truth.setdefault("churn", {}).setdefault("churn_date_by_customer", {})
            for i, code in enumerate(self.cust_code):
                value = dates.get(code)
                if value is not None:
                    planted[i] = _sec(dt.date.fromisoformat(value))
        free_from, free_to = planted_window(self.truth, self.old, self.new)
        eligible = (planted == never) & ~self.cust_deleted & (self.cust_status != "closed")
        lin = CHURN_COEFFICIENTS["complaints"] * np.minimum(self.recent_complaints, 4)
        hazard = CHURN_BASE_MONTHLY_HAZARD * np.exp(lin) * max(free_to - free_from, 0) / (PERIOD_DAYS * DAY)
        new = eligible & (self.rng.random(n) < -np.expm1(-hazard))
        when = free_from + 1 + (self.rng.random(n) * max(free_to - free_from - 1, 0)).astype(np.int64)
        for i in np.nonzero(new)[0].tolist():
            dates[self.cust_code[i]] = (EPOCH + dt.timedelta(days=int(when[i] // DAY))).isoformat()
        self.churn_at = np.where(new, when, np.where(planted <= self.new, planted, never))
        self.new_churn = int(new.sum()) + int(((planted > self.old) & (planted <= self.new)).sum())

    # products ----------------------------------------------------------------------------------
    def price_changes(self) -> None:
        n = len(self.prod_id)
        p = min(0.01 * self.days / PERIOD_DAYS * 3, 0.5)
        change = np.nonzero(self.prod_merch & (self.rng.random(n) < p))[0]
        self.change_ts = np.full(n, np.iinfo(np.int64).max)
        self.change_ts[change] = self.times(len(change))
        self.new_price = self.prod_price.copy()
        self.new_price[change] = np.maximum(
            np.rint(self.prod_price[change] * self.rng.uniform(0.92, 1.15, size=len(change))), 1)
        self.updates["products"] = [
            {"b_id": int(self.prod_id[i]), "unit_price": Decimal(int(self.new_price[i])).scaleb(-2),
             "updated_at": _dt(self.change_ts[i])} for i in change.tolist()]

    def price_at(self, idx: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return np.where(ts >= self.change_ts[idx], self.new_price[idx], self.prod_price[idx])

    # customers ---------------------------------------------------------------------------------
    def new_customers(self) -> None:
        rng = self.rng
        prof = self.profile
        n = int(rng.poisson(self.scale.customers / 730 * 0.6 * self.days))
        start = self.ids["customers"] + 1
        ids = np.arange(start, start + n)
        created = np.sort(self.times(n))
        seg_idx = _choice_idx(rng, [s[1] for s in prof.segments], n)
        seg = np.array([s[0] for s in prof.segments])[seg_idx]
        business = np.isin(seg, prof.business_segments)
        cities = vocab.CITIES_CN if prof.name == "services" else vocab.CITIES_UK
        weights = vocab.CITY_WEIGHTS_CN if prof.name == "services" else vocab.CITY_WEIGHTS_UK
        city_idx = _choice_idx(rng, weights, n)
        city = [cities[i][0] for i in city_idx]
        region = [cities[i][1] for i in city_idx]
        pnames, plocal = _people_names(rng, n, prof)
        cnames, clocal = _company_names(rng, n, prof, city)
        names = [c if b else p for p, c, b in zip(pnames, cnames, business.tolist(), strict=True)]
        local = [c if b else p for p, c, b in zip(plocal, clocal, business.tolist(), strict=True)]
        domains = vocab.EMAIL_DOMAINS_ZH if prof.name == "services" else vocab.EMAIL_DOMAINS_EN
        emails = [f"{x}{k}@{domains[d]}" for x, k, d in zip(
            local, rng.integers(1, 999, size=n), rng.integers(len(domains), size=n), strict=True)]
        acq = np.array([a for a, _ in prof.acquisition_channels])[
            _choice_idx(rng, [w for _, w in prof.acquisition_channels], n)]
        rep = self.reps[rng.integers(len(self.reps), size=n)]
        self.inserted["customers"] = {
            "customer_id": ids, "customer_code": _fmt_ids("C", ids, 6), "name": pa.array(names),
            "email": pa.array(emails), "phone": pa.array(_phones(rng, n, prof)), "city": pa.array(city),
            "region": pa.array(region), "segment": _strings(seg), "acquisition_channel": _strings(acq),
            "status": pa.array(["active"] * n, pa.string()), "sales_rep_id": rep,
            "signup_date": created // DAY, "created_at": created, "updated_at": created,
            "is_deleted": np.zeros(n, dtype=bool),
        }
        # the new customers join the population that orders in this window
        self.cust_id = np.concatenate([self.cust_id, ids])
        self.cust_segment = np.concatenate([self.cust_segment, seg.astype(object)])
        self.cust_status = np.concatenate([self.cust_status, np.full(n, "active", dtype=object)])
        self.cust_rep = np.concatenate([self.cust_rep, rep])
        self.cust_deleted = np.concatenate([self.cust_deleted, np.zeros(n, dtype=bool)])
        self.recent_orders = np.concatenate([self.recent_orders, np.full(n, 1.0)])
        self.recent_complaints = np.concatenate([self.recent_complaints, np.zeros(n)])
        self.churn_at = np.concatenate([self.churn_at, np.full(n, np.iinfo(np.int64).max)])
        self.cust_first = np.concatenate([np.full(len(self.cust_id) - n, self.old + 1), created])

    # orders ------------------------------------------------------------------------------------
    def orders(self) -> None:
        rng = self.rng
        prof = self.profile
        n = len(self.cust_id)
        active = ~self.cust_deleted & (self.cust_status != "closed")
        rate = (self.recent_orders + 0.3) / 180.0
        k = np.where(active, rng.poisson(rate * self.days), 0)
        oc = np.repeat(np.arange(n), k)
        lo = self.cust_first[oc]
        ts = lo + (rng.random(len(oc)) * (self.new - lo)).astype(np.int64)
        keep = ts < self.churn_at[oc]
        oc, ts = oc[keep], ts[keep]
        n_guest = int(round(len(oc) * prof.guest_share / max(1 - prof.guest_share, 1e-9)))
        oc = np.concatenate([oc, np.full(n_guest, -1)])
        ts = np.concatenate([ts, self.times(n_guest)])
        # recurring monthly invoices continue 30 days after each subscriber's latest one
        code_to_idx = {c: i for i, c in enumerate(self.prod_code.tolist())}
        latest: dict[int, tuple[int, list[int]]] = {}
        for cid, ots, code in self.recurring_rows:
            t = _sec(ots)
            prev = latest.get(cid)
            if prev is None or t > prev[0]:
                latest[cid] = (t, [code_to_idx[code]] if code in code_to_idx else [])
            elif t == prev[0] and code in code_to_idx:
                prev[1].append(code_to_idx[code])
        rec_c, rec_t, rec_products = [], [], []
        for cid, (t, products) in latest.items():
            i = int(np.searchsorted(self.cust_id, cid))
            if not products or i >= n or self.cust_id[i] != cid or not active[i]:
                continue
            t += PERIOD_DAYS * DAY
            while t <= self.new:
                if t > self.old and t < self.churn_at[i] and (
                        self.services is None or self.services.billing_active(cid, self.prod_code[products].tolist(), t)):
                    rec_c.append(i)
                    rec_t.append(t)
                    rec_products.append(products)
                t += PERIOD_DAYS * DAY
        lists: list[list[int] | None] = [None] * len(oc) + rec_products
        is_rec = np.r_[np.zeros(len(oc), dtype=bool), np.ones(len(rec_c), dtype=bool)]
        oc = np.concatenate([oc, np.array(rec_c, dtype=np.int64)])
        ts = np.concatenate([ts, np.array(rec_t, dtype=np.int64)])
        order = np.lexsort((oc, ts))
        oc, ts, is_rec = oc[order], ts[order], is_rec[order]
        rec_products = [p for p in (lists[j] for j in order.tolist()) if p is not None]
        m = len(oc)
        o_id = np.arange(self.ids["orders"] + 1, self.ids["orders"] + 1 + m)
        cust = np.where(oc >= 0, self.cust_id[np.maximum(oc, 0)], NULL_INT)
        chan = np.array([c for c, _ in prof.order_channels])[
            _choice_idx(rng, [w for _, w in prof.order_channels], m)]
        business = np.where(oc >= 0, np.isin(self.cust_segment[np.maximum(oc, 0)], prof.business_segments), False)
        rep = np.where((oc >= 0) & (business | np.isin(chan, ["phone", "store"])),
                       self.cust_rep[np.maximum(oc, 0)], NULL_INT)
        # lines: popular products plus the planted bundles of the ground truth
        cat_weight = {c: w for c, w in zip(self.catalog.codes.tolist(), self.catalog.popularity.tolist(),
                                           strict=True)}
        weights = np.array([cat_weight.get(c, 0.1) if mch else 0.0
                            for c, mch in zip(self.prod_code.tolist(), self.prod_merch.tolist(), strict=True)])
        billing = {c: b for c, b in zip(self.catalog.codes.tolist(), self.catalog.billing.tolist(), strict=True)}
        if self.profile.name == "retail":
            weights = np.where([billing.get(c, "one_off") == "one_off" for c in self.prod_code.tolist()], weights, 0)
        else:  # monthly services are billed by the recurring invoices only
            weights = np.where([billing.get(c) != "monthly" for c in self.prod_code.tolist()], weights, 0)
        if weights.sum() <= 0:
            weights = self.prod_merch.astype(np.float64) + 1e-9
        kl = np.where(is_rec, 0, 1 + rng.poisson(max(prof.lines_per_order - 1.5, 0.2), size=m))
        li = [np.repeat(np.arange(m), kl)]
        lp = [_choice_idx(rng, weights, len(li[0]))]
        # the planted taste and next-purchase sequences carry on (warehouse.demo.taste)
        cancelled = (rng.random(m) < prof.cancel_share) & ~is_rec
        lp[0], seq_lines = taste.advance_products(
            rng, self.truth, self.catalog, prof.name, self.prod_code, self.cust_code + [
                f"C{int(i):06d}" for i in self.cust_id[len(self.cust_code):]], li[0], lp[0], oc, ts,
            ~is_rec & ~cancelled)
        li.append(seq_lines[0])
        lp.append(seq_lines[1])
        rec_idx = np.nonzero(is_rec)[0]
        li.append(np.repeat(rec_idx, [len(p) for p in rec_products]).astype(np.int64))
        lp.append(np.array([x for p in rec_products for x in p], dtype=np.int64))
        for bundle in (self.truth or {}).get("bundles", []):
            members = [code_to_idx[c] for c in bundle["product_codes"] if c in code_to_idx]
            hit = np.nonzero(~is_rec & (rng.random(m) < float(bundle["share_of_baskets"])))[0]
            for prod in members:
                li.append(hit)
                lp.append(np.full(len(hit), prod))
        oi, pi = np.concatenate(li), np.concatenate(lp)
        first = _first_occurrences(oi.astype(np.int64) * len(self.prod_id) + pi)
        oi, pi = oi[first], pi[first]
        srt = np.argsort(oi, kind="stable")
        oi, pi = oi[srt], pi[srt]
        starts = np.r_[True, oi[1:] != oi[:-1]] if len(oi) else np.zeros(0, dtype=bool)
        line_no = np.arange(len(oi)) - np.maximum.accumulate(np.where(starts, np.arange(len(oi)), 0)) + 1
        qty = np.where(self.prod_merch[pi], rng.geometric(0.6, size=len(oi)), 1).astype(np.int64)
        price = self.price_at(pi, ts[oi])
        if self.services is not None:  # recurring invoices bill the contract's fee
            price = self.services.invoice_prices(is_rec[oi], cust[oi], self.prod_code[pi].tolist(), ts[oi], price)
        disc = np.where(rng.random(len(oi)) < 0.12, np.rint(qty * price * 0.1), 0).astype(np.int64)
        amount = qty * price - disc
        total = np.rint(np.bincount(oi, weights=amount, minlength=m)).astype(np.int64)
        upd = np.where(cancelled, np.minimum(ts + 3600, self.new), ts)
        self.inserted["orders"] = {
            "order_id": o_id, "order_number": _fmt_ids("SO", o_id, 8), "customer_id": cust, "order_ts": ts,
            "channel": _strings(chan), "sales_rep_id": rep,
            "status": _strings(np.where(cancelled, "cancelled", "completed")), "order_total": total,
            "currency": pa.array([prof.currency] * m, pa.string()), "created_at": ts, "updated_at": upd,
            "is_deleted": np.zeros(m, dtype=bool),
        }
        l_id = np.arange(self.ids["order_lines"] + 1, self.ids["order_lines"] + 1 + len(oi))
        self.inserted["order_lines"] = {
            "order_line_id": l_id, "order_id": o_id[oi], "line_number": line_no,
            "product_code": pa.array(self.prod_code[pi].tolist(), pa.string()), "quantity": qty,
            "unit_price": price, "discount": disc, "line_amount": amount, "created_at": ts[oi],
            "updated_at": ts[oi], "is_deleted": np.zeros(len(oi), dtype=bool),
        }
        pay = np.nonzero(~cancelled & (total > 0))[0]
        main_code: list[str] = [""] * m  # a recurring invoice's main service (the contract it is against)
        for k, j in enumerate(rec_idx.tolist()):
            main_code[j] = str(self.prod_code[rec_products[k][0]]) if rec_products[k] else ""
        invoiced = business[pay] | ((prof.name == "services") & (oc[pay] >= 0))
        day = ts[pay] // DAY
        due = np.where(invoiced, day + prof.invoice_terms_days, day)
        paid = np.where(invoiced, due * DAY + rng.integers(-10 * DAY, 20 * DAY, size=len(pay)),
                        ts[pay] + rng.integers(0, 600, size=len(pay)))
        paid = np.maximum(paid, ts[pay] + 60)
        paid = np.where(paid <= self.new, paid, NULL_TS)
        methods = np.array(prof.payment_methods)
        p_id = np.arange(self.ids["payments"] + 1, self.ids["payments"] + 1 + len(pay))
        self.inserted["payments"] = {
            "payment_id": p_id, "order_id": o_id[pay], "customer_id": cust[pay], "due_date": due,
            "paid_at": paid, "amount": total[pay],
            "method": _strings(np.where(invoiced, "transfer", methods[rng.integers(len(methods), size=len(pay))])),
            "contract_id": (self.services.payment_contracts(is_rec[pay], cust[pay], [main_code[j] for j in pay.tolist()],
                                                            ts[pay]) if self.services is not None
                            else np.full(len(pay), NULL_INT)),
            "created_at": ts[pay], "updated_at": np.where(paid == NULL_TS, ts[pay], paid),
            "is_deleted": np.zeros(len(pay), dtype=bool),
        }

    # tickets -----------------------------------------------------------------------------------
    def ticket_work(self) -> None:
        """Open tickets get first responses and resolutions inside the window."""
        rows = []
        fu_cust, fu_agent, fu_ts = [], [], []
        for tid, cust, agent, opened, first, _ttype in self.open_tickets:
            o = _sec(opened)
            had_first = first is not None
            f = _sec(first) if had_first else int(self.later(np.array([o]), np.array([self.rng.exponential(12.0)]))[0])
            if f > self.new:
                continue
            resolved = max(f, self.old) + 60 + int(self.rng.exponential(36.0) * 3600)
            row: dict[str, Any] = {"b_id": tid, "first_response_at": _dt(f), "resolved_at": None,
                                   "status": "in_progress", "satisfaction": None, "updated_at": _dt(f)}
            if resolved > self.new:
                if had_first:
                    continue  # nothing new happens to this ticket in the window
            else:
                row.update(resolved_at=_dt(resolved), status="resolved", updated_at=_dt(resolved))
                if self.rng.random() < 0.5:
                    row["satisfaction"] = int(self.rng.integers(1, 6))
                fu_cust.append(cust)
                fu_agent.append(agent if agent is not None else int(self.agents[0]))
                fu_ts.append(min(resolved + 3600, self.new))
            rows.append(row)
        self.updates["service_tickets"] = rows
        self.followups = (np.array(fu_cust, dtype=np.int64), np.array(fu_agent, dtype=np.int64),
                          np.array(fu_ts, dtype=np.int64))

    def new_tickets(self) -> None:
        rng = self.rng
        n = len(self.cust_id)
        rate = self.scale.tickets / max(self.scale.customers, 1) / 730.0
        alive = ~self.cust_deleted & (self.churn_at > self.old)
        k = np.where(alive, rng.poisson(rate * self.days * (1 + self.recent_complaints), size=n), 0)
        tc = np.repeat(np.arange(n), k)
        opened = self.cust_first[tc] + (rng.random(len(tc)) * (self.new - self.cust_first[tc])).astype(np.int64)
        keep = opened < self.churn_at[tc]
        tc, opened = tc[keep], np.sort(opened[keep])
        m = len(tc)
        ttype = np.array(["complaint", "inquiry", "request", "follow_up"])[
            _choice_idx(rng, [0.25, 0.35, 0.25, 0.15], m)]
        first = opened + np.rint(rng.exponential(8.0, size=m) * 3600).astype(np.int64) + 60
        resolved = first + np.rint(rng.exponential(30.0, size=m) * 3600).astype(np.int64) + 60
        status = np.where(first > self.new, "open", np.where(resolved > self.new, "in_progress", "resolved"))
        first = np.where(first > self.new, NULL_TS, first)
        resolved = np.where(status == "resolved", resolved, NULL_TS)
        sat = np.where((status == "resolved") & (rng.random(m) < 0.5),
                       np.where(ttype == "complaint", rng.integers(1, 4, size=m), rng.integers(3, 6, size=m)),
                       NULL_INT)
        ids = np.arange(self.ids["service_tickets"] + 1, self.ids["service_tickets"] + 1 + m)
        chan = np.array([c for c, _ in self.profile.ticket_channels])[
            _choice_idx(rng, [w for _, w in self.profile.ticket_channels], m)]
        subjects = [vocab.TICKET_SUBJECTS[t][int(rng.integers(len(vocab.TICKET_SUBJECTS[t])))]
                    for t in ttype.tolist()]
        self.inserted["service_tickets"] = {
            "ticket_id": ids, "ticket_number": _fmt_ids("TK", ids, 8), "customer_id": self.cust_id[tc],
            "order_id": np.full(m, NULL_INT), "agent_id": self.agents[rng.integers(len(self.agents), size=m)],
            "ticket_type": _strings(ttype), "channel": _strings(chan),
            "priority": _strings(np.where(ttype == "complaint", "high", "normal")),
            "subject": pa.array(subjects, pa.string()), "opened_at": opened, "first_response_at": first,
            "resolved_at": resolved, "status": _strings(status), "satisfaction": sat, "created_at": opened,
            "updated_at": np.maximum.reduce([opened, first, resolved]), "is_deleted": np.zeros(m, dtype=bool),
        }

    def invoice_payments(self) -> None:
        rows = []
        for pid, due in self.unpaid:
            if self.rng.random() < 0.6:
                paid = int(self.later(np.array([_sec(due)]), np.array([self.rng.uniform(0, 72)]))[0])
                if paid <= self.new:
                    rows.append({"b_id": pid, "paid_at": _dt(paid), "updated_at": _dt(paid)})
        self.updates["payments"] = rows

    def attribute_changes(self) -> None:
        rng = self.rng
        prof = self.profile
        n_old = len(self.cust_code)
        p = min(0.004 * self.days / 7, 0.3)
        live = ~self.cust_deleted[:n_old]
        change = np.nonzero(live & (rng.random(n_old) < p))[0]
        cities = vocab.CITIES_CN if prof.name == "services" else vocab.CITIES_UK
        segments = [s[0] for s in prof.segments]
        when = self.times(len(change))
        rows = []
        for i, ts in zip(change.tolist(), when.tolist(), strict=True):
            kind = int(rng.integers(4))
            row: dict[str, Any] = {"b_id": int(self.cust_id[i]), "updated_at": _dt(ts)}
            if kind == 0:
                row["segment"] = segments[int(rng.integers(len(segments)))]
            elif kind == 1:
                city, region = cities[int(rng.integers(len(cities)))]
                row.update(city=city, region=region)
            elif kind == 2:
                row["sales_rep_id"] = int(self.reps[int(rng.integers(len(self.reps)))])
            else:
                row["status"] = "active" if self.cust_status[i] != "active" else "dormant"
            rows.append(row)
        # churned customers drift to dormant; a few records are soft-deleted
        dormant = np.nonzero((self.churn_at[:n_old] <= self.new - 60 * DAY) & (self.cust_status[:n_old] == "active")
                             & live & ~np.isin(np.arange(n_old), change))[0]
        for i in dormant.tolist():
            rows.append({"b_id": int(self.cust_id[i]), "status": "dormant", "updated_at": _dt(self.times(1)[0])})
        taken = set(change.tolist()) | set(dormant.tolist())
        cand = np.array([i for i in np.nonzero(live)[0].tolist() if i not in taken], dtype=np.int64)
        n_del = min(len(cand), int(rng.poisson(max(len(cand) * 0.0002 * self.days / 7, 0.5))))
        for i in rng.choice(cand, size=n_del, replace=False).tolist() if n_del else []:
            rows.append({"b_id": int(self.cust_id[i]), "is_deleted": True, "updated_at": _dt(self.times(1)[0])})
        self.updates["customers"] = rows
        ids = np.array(self.interaction_ids, dtype=np.int64)
        n_int = min(len(ids), int(rng.poisson(1 + 0.5 * self.days)))
        self.updates["interactions"] = [
            {"b_id": int(i), "is_deleted": True, "updated_at": _dt(self.times(1)[0])}
            for i in (rng.choice(ids, size=n_int, replace=False).tolist() if n_int else [])]

    def interactions(self) -> None:
        rng = self.rng
        fc, fa, fts = self.followups
        n = len(self.cust_id)
        k = int(rng.poisson(self.scale.interactions / 730.0 * 0.85 * self.days))
        alive = np.nonzero(~self.cust_deleted & (self.churn_at > self.new))[0]
        sc = alive[rng.integers(len(alive), size=k)] if len(alive) else np.zeros(0, dtype=np.int64)
        s_ts = self.cust_first[sc] + (rng.random(len(sc)) * (self.new - self.cust_first[sc])).astype(np.int64)
        s_type = np.array(["call", "email", "meeting"])[_choice_idx(rng, [0.45, 0.4, 0.15], len(sc))]
        cust = np.concatenate([fc, self.cust_id[sc]]) if n else fc
        ts = np.concatenate([fts, s_ts])
        itype = np.concatenate([np.full(len(fc), "follow_up_call"), s_type]).astype(object)
        emp = np.concatenate([fa, self.cust_rep[sc]])
        order = np.lexsort((cust, ts))
        cust, ts, itype, emp = cust[order], ts[order], itype[order], emp[order]
        m = len(cust)
        channel = {"follow_up_call": "phone", "call": "phone", "email": "email", "meeting": "visit"}
        outcome = [vocab.INTERACTION_OUTCOMES[t][int(rng.integers(len(vocab.INTERACTION_OUTCOMES[t])))]
                   for t in itype.tolist()]
        notes = [vocab.INTERACTION_NOTES[t][int(rng.integers(len(vocab.INTERACTION_NOTES[t])))]
                 for t in itype.tolist()]
        ids = np.arange(self.ids["interactions"] + 1, self.ids["interactions"] + 1 + m)
        self.inserted["interactions"] = {
            "interaction_id": ids, "customer_id": cust, "employee_id": emp,
            "interaction_type": pa.array(itype.tolist(), pa.string()),
            "channel": pa.array([channel[t] for t in itype.tolist()], pa.string()), "occurred_at": ts,
            "outcome": pa.array(outcome, pa.string()), "notes": pa.array(notes, pa.string()),
            "created_at": ts, "updated_at": ts, "is_deleted": np.zeros(m, dtype=bool),
        }


def _apply_updates(engine: sa.Engine, updates: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    counts = {}
    with engine.begin() as conn:
        for name, rows in updates.items():
            table = schema.metadata.tables[name]
            pk = table.c[schema.PRIMARY_KEYS[name]]
            by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in rows:
                by_columns.setdefault(tuple(sorted(k for k in row if k != "b_id")), []).append(row)
            for columns, group in by_columns.items():
                stmt = table.update().where(pk == sa.bindparam("b_id")).values(
                    {c: sa.bindparam(c) for c in columns})
                conn.execute(stmt, group)
            counts[name] = len(rows)
    return counts


def advance(url: str, ground_truth_path: Path | None, days: int, *, seed: int | None = None) -> AdvanceResult:
    """Advance the demo source at ``url`` by ``days`` business days (see the module docstring)."""
    if not 1 <= days <= MAX_ADVANCE_DAYS:
        raise DemoError(f"--days must be between 1 and {MAX_ADVANCE_DAYS}; got {days}")
    sa_url = sa.engine.make_url(url)
    if sa_url.get_backend_name() == "sqlite" and not Path(sa_url.database or "").is_file():
        raise DemoError(f"there is no source at {url} (not a demo source yet); run `crmwh demo generate` first")
    engine = sa.create_engine(url)
    try:
        state = read_state(engine)
        truth = None
        if ground_truth_path is not None and ground_truth_path.is_file():
            truth = json.loads(ground_truth_path.read_text(encoding="utf-8"))
            if truth.get("seed") != state.seed or truth.get("profile") != state.profile:
                truth = None  # the file belongs to another source: do not mix them
        work = _Advancer(engine, state, days, state.seed if seed is None else seed, truth)
        work.run()
        writer = BulkWriter(url)
        inserted = {}
        try:
            for name in schema.SOURCE_TABLES:
                if name in work.inserted:
                    inserted[name] = writer.append(schema.metadata.tables[name], work.inserted[name])
            writer.reset_sequences([schema.metadata.tables[n] for n in schema.SOURCE_TABLES])
        finally:
            writer.dispose()
        updated = _apply_updates(engine, work.updates)
        new_state = replace(state, business_clock=_dt(work.new), advance_count=state.advance_count + 1)
        write_state(engine, new_state)
    finally:
        engine.dispose()
    if truth is not None and ground_truth_path is not None:
        truth.setdefault("advances", []).append({
            "from": _dt(work.old).isoformat(sep=" "), "to": _dt(work.new).isoformat(sep=" "),
            "new_churned_customers": work.new_churn, "inserted": inserted, "updated": updated})
        truth["churn"]["churned_customers"] = sum(
            1 for v in truth["churn"]["churn_date_by_customer"].values() if v is not None)
        tmp = ground_truth_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(ground_truth_path)
    return AdvanceResult(old_clock=_dt(work.old), new_clock=_dt(work.new), inserted=inserted, updated=updated)
