"""The services agency's sales process and service delivery in the demo source (services profile).

Called from small hooks in ``warehouse.demo.generator``; every draw comes from streams of its own, so
the retail profile (which gets the tables empty) is unchanged.

1. :func:`plan_contracts` (after the churn simulation and the price schedule, before the orders):
   each subscriber's monthly services and the chain of its 12-month contracts from its signup.
   Every term's renewal is decided 30 days before its end by the planted renewal process

       logit P(not renewed) = intercept + b_late * late filings + b_complaints * complaints
                              + b_price * (price rise / 10%) + b_auto * auto_renew

   with late filings and complaints counted in the 180 days before the decision (up to the business
   clock) and the price rise = the renewal quote (sent 90 days before the end: the list price then,
   plus a planted uplift for some) over the current fee. A customer who churns mid-term terminates
   its contracts early; some renewals start after a gap. The recurring invoices of the generator
   follow the contracts (``billing_active``, the fee of the term in ``invoice_prices``) and their
   payments name the contract (``payment_contracts``).
2. :func:`build_tables` (after all orders, lines and tickets exist): leads and opportunities with
   their stage history (one won lead per customer acquired in the history, in its acquisition channel,
   owned by its sales rep; lost and disqualified leads at planted per-channel rates; some opportunities
   skip a stage or move back; some reps are slower), the contracts, and a service order with its
   process steps for every sold line of a service that has a process in
   ``warehouse/core/rules/service_sla.toml`` (due dates from the SLA; monthly filings due on the statutory
   day of the next month, late as planted per customer and accountant).

What is planted goes to the ground truth under ``services`` (never into the source tables).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from warehouse.core.rules import ServiceProcess, load_service_processes, process_by_category
from warehouse.demo.config import DAY, EPOCH
from warehouse.demo.writer import NULL_DATE, NULL_INT, NULL_TS

if TYPE_CHECKING:  # the generator's builder (not imported at run time: it imports this module)
    from warehouse.demo.generator import _Builder

# --- the planted processes (declared once; written to the ground truth) ------------------------------
TERM_DAYS = 365
NOTICE_DAYS = 90  # the renewal quote goes out this many days before the end
DECISION_DAYS = 30  # the customer decides this many days before the end
DRIVER_WINDOW_DAYS = 180  # late filings and complaints counted over this window before the decision
FUTURE_DAYS = 180  # renewals decided (ground truth only) for terms ending this far past the clock
AUTO_RENEW_SHARE = 0.6
UPLIFT_SHARE = 0.3  # renewal quotes with a planted price rise on top of the list price
UPLIFT_RANGE = (0.05, 0.20)
LATE_RENEWAL_SHARE = 0.12  # renewals that start after a gap
LATE_RENEWAL_GAP_DAYS = (14, 60)
RENEWAL_COEFFICIENTS = {
    "intercept": -2.3,
    "late_filings": 0.8,  # per late filing (capped at DRIVER_CAP)
    "complaints": 1.1,  # per complaint ticket (capped at DRIVER_CAP)
    "price_rise_per_10pct": 1.4,  # per 10% of renewal quote over the current fee (negative for a cut)
    "auto_renew": -1.0,
}
DRIVER_CAP = 6
# monthly filings: days late ~ round(Normal(mu, FILING_SD)), late when >= 1 day;
# mu = FILING_BASE + FILING_LATE_SENDER * (customer sends documents late) + FILING_AGENT * log(agent slowness)
FILING_BASE = -4.0
FILING_LATE_SENDER = 3.5
FILING_AGENT = 3.0
FILING_SD = 2.0
LATE_SENDER_SHARE = 0.2

# sales funnel: per acquisition channel, P(lead -> opportunity) and P(opportunity -> won)
FUNNEL_RATES: dict[str, tuple[float, float]] = {
    "referral": (0.70, 0.55), "web": (0.35, 0.30), "campaign": (0.30, 0.25), "partner": (0.60, 0.45),
    "event": (0.45, 0.35),
}
DEFAULT_FUNNEL_RATE = (0.40, 0.35)
OPEN_STAGES: tuple[str, ...] = ("new", "qualified", "proposal", "negotiation")
STAGES: tuple[str, ...] = (*OPEN_STAGES, "won", "lost")
STAGE_MEDIAN_DAYS = {"lead": 2.0, "new": 4.0, "qualified": 6.0, "proposal": 5.0, "negotiation": 7.0}
STAGE_SIGMA = 0.6
SKIP_QUALIFIED_SHARE = 0.15
SKIP_NEGOTIATION_SHARE = 0.12
BACKWARD_SHARE = 0.10  # negotiation -> proposal -> negotiation (a revised proposal)
FUTURE_WIN_DAYS = 90  # wins planted after the clock (open opportunities in the source)
NON_WON_LEAD_LEAD_DAYS = 40  # lost and disqualified leads start this many days before the history
LOST_AT_STAGE = {"new": 0.30, "qualified": 0.30, "proposal": 0.25, "negotiation": 0.15}
SLOW_REP_SHARE = 0.25
SLOW_REP_FACTOR = 1.8
LOST_REASONS = (("price", 0.30), ("chose_competitor", 0.25), ("no_budget", 0.15), ("no_decision", 0.20),
                ("timing", 0.10))
DISQUALIFY_REASONS = (("not_a_fit", 0.40), ("no_budget", 0.25), ("unreachable", 0.25), ("duplicate", 0.10))
TERMINATION_REASONS = ("customer_left", "business_closed", "moved_provider")
# one-off service steps take lognormal(log(STEP_MEDIAN_SHARE * sla_days), STEP_SIGMA) * agent slowness days
STEP_MEDIAN_SHARE = 0.6
STEP_SIGMA = 0.5


def _rng(seed: int, component: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(f"services:{component}".encode())])


class _Picker:
    """Draws one of several options with fixed weights (cheap one draw at a time)."""

    def __init__(self, options: Any, weights: Any) -> None:
        self.options = list(options)
        w = np.asarray(weights, dtype=np.float64)
        self.cdf = (np.cumsum(w) / w.sum()).tolist()

    def __call__(self, rng: np.random.Generator) -> Any:
        return self.options[min(bisect.bisect_right(self.cdf, rng.random()), len(self.options) - 1)]

    @classmethod
    def of(cls, pairs: Any) -> _Picker:
        items = list(pairs.items()) if isinstance(pairs, dict) else list(pairs)
        return cls([o for o, _ in items], [w for _, w in items])


def _iso(day: int) -> str:
    return (EPOCH + dt.timedelta(days=int(day))).isoformat()


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def next_month_day(ts: np.ndarray, day: int) -> np.ndarray:
    """Epoch day of ``day`` of the month after each timestamp's month."""
    months = np.asarray(ts, dtype=np.int64).astype("datetime64[s]").astype("datetime64[M]") + 1
    return (months.astype("datetime64[D]") - np.datetime64("1970-01-01", "D")).astype(np.int64) + day - 1


@dataclass
class ContractTerm:
    """One term of a subscriber's chain (one contract row per monthly service of the subscriber)."""

    customer: int
    term: int
    start_day: int
    end_day: int
    fees: list[int]  # cents per month, per service slot
    auto_renew: bool
    terminated_day: int | None = None
    renewal_fees: list[int] | None = None
    notice_ts: int | None = None
    decided: bool = False
    renewed: bool | None = None
    p_non_renewal: float | None = None
    drivers: dict[str, float] | None = None
    next_start_day: int | None = None


class ServicesPlan:
    """The contracts decided before the orders exist, and the look-ups the generator's hooks use."""

    def __init__(self, b: _Builder) -> None:
        self.b = b
        self.seed = b.seed
        n = b.scale.customers
        cat = b.catalog
        rng = _rng(b.seed, "subscriptions")
        monthly = np.nonzero(cat.billing == "monthly")[0]
        self.monthly_products = monthly
        self.sub1 = monthly[rng.integers(len(monthly), size=n)]
        self.sub2 = monthly[rng.integers(len(monthly), size=n)]
        self.two = (rng.random(n) < 0.5) & (self.sub2 != self.sub1)
        self.agent_of = rng.integers(len(b.agent_ids), size=n)  # index into b.agent_ids
        self.late_sender = rng.random(n) < LATE_SENDER_SHARE
        self.clock_day = int(b.clock // DAY)
        self.processes = load_service_processes()
        self.by_category = process_by_category(self.processes)
        self.subscribers = np.nonzero(b.subscriber)[0]
        self._filing_offsets(rng)
        self._complaint_times()
        self.terms: list[ContractTerm] = []
        self._decide(rng)
        self._index()

    # inputs of the renewal decision ---------------------------------------------------------------
    def _filing_offsets(self, rng: np.random.Generator) -> None:
        """Days late of each subscriber's monthly filing per service slot and 30-day billing period."""
        b = self.b
        n_periods = len(b.period_bounds)
        n = b.scale.customers
        slow = np.log(b.agent_slowness[self.agent_of])
        mu = FILING_BASE + FILING_LATE_SENDER * self.late_sender + FILING_AGENT * slow
        self.filing_days_late = np.rint(mu[:, None, None] + rng.normal(0.0, FILING_SD, size=(n, 2, n_periods))
                                        ).astype(np.int64)
        starts = np.array([p for p, _ in b.period_bounds], dtype=np.int64)
        ends = np.array([e for _, e in b.period_bounds], dtype=np.int64)
        # the bill of customer i in period p (as the generator's orders() places it)
        self.bill_ts = starts[None, :] + b.bill_day[:, None] * DAY + 10 * 3600
        self.bill_in_period = (self.bill_ts < ends[None, :]) & (self.bill_ts <= b.clock)
        day_of = {}
        for slot_products in (self.sub1, self.sub2):
            for code in np.unique(slot_products).tolist():
                process = self.by_category.get(str(b.catalog.categories[code]))
                step = process.steps[0] if process is not None and process.is_monthly else None
                day_of[code] = step.due_day_of_next_month if step is not None else 15
        self.due_day = {k: int(v) for k, v in day_of.items()}

    def _complaint_times(self) -> None:
        t = self.b.t
        keep = t["complaint"].astype(bool)
        cust = t["cust"][keep]
        opened = t["opened"][keep]
        order = np.lexsort((opened, cust))
        self.c_cust, self.c_opened = cust[order], opened[order]

    def complaints_between(self, i: int, lo: float, hi: float) -> int:
        a = np.searchsorted(self.c_cust, i, side="left")
        z = np.searchsorted(self.c_cust, i, side="right")
        times = self.c_opened[a:z]
        return int(((times >= lo) & (times < hi)).sum())

    def late_filings_between(self, i: int, active: list[tuple[int, int]], lo: float, hi: float) -> tuple[int, int]:
        """(late filings, filings due) of customer ``i`` with due dates in [lo, hi), for the bills inside
        its active contract intervals (epoch days)."""
        b = self.b
        bills = self.bill_ts[i]
        ok = self.bill_in_period[i] & (bills >= b.signup[i]) & (bills < b.churn[i])
        bill_day = bills // DAY
        in_contract = np.zeros(len(bills), dtype=bool)
        for s, e in active:
            in_contract |= (bill_day >= s) & (bill_day <= e)
        ok &= in_contract
        late = due = 0
        slots = [self.sub1[i]] + ([self.sub2[i]] if self.two[i] else [])
        for k, product in enumerate(slots):
            due_day = next_month_day(bills, self.due_day[int(product)])
            due_ts = due_day * DAY + DAY - 1
            sel = ok & (due_ts >= lo) & (due_ts < hi)
            due += int(sel.sum())
            late += int((sel & (self.filing_days_late[i, k] >= 1)).sum())
        return late, due

    # the contract chains ----------------------------------------------------------------------------
    def _slots(self, i: int) -> list[int]:
        return [int(self.sub1[i])] + ([int(self.sub2[i])] if self.two[i] else [])

    def _decide(self, rng: np.random.Generator) -> None:
        b = self.b
        c = RENEWAL_COEFFICIENTS
        horizon = self.clock_day + FUTURE_DAYS
        for i in self.subscribers.tolist():
            products = self._slots(i)
            start = int(b.signup_day[i])
            if start > self.clock_day:
                continue
            churn_day = int(b.churn[i] // DAY) if np.isfinite(b.churn[i]) else None
            fees = [int(v) for v in b.price_at(np.array(products), np.full(len(products), b.signup[i]))]
            auto = bool(rng.random() < AUTO_RENEW_SHARE)
            active: list[tuple[int, int]] = []
            k = 0
            while start <= self.clock_day:
                end = start + TERM_DAYS - 1
                term = ContractTerm(i, k, start, end, fees, auto)
                self.terms.append(term)
                active.append((start, end))
                if churn_day is not None and churn_day <= end:
                    term.terminated_day = max(churn_day, start)
                    active[-1] = (start, term.terminated_day)
                    break
                notice = (end - NOTICE_DAYS) * DAY + 10 * 3600
                uplift = (rng.uniform(*UPLIFT_RANGE) if rng.random() < UPLIFT_SHARE else 0.0)
                quote = [max(int(round(v * (1 + uplift))), 1)
                         for v in b.price_at(np.array(products), np.full(len(products), notice))]
                term.renewal_fees = quote
                term.notice_ts = notice if notice <= b.clock else None
                if end < b.start_day + DECISION_DAYS:  # decided before the history began: renewed
                    term.renewed = True
                elif end <= horizon:
                    decision = (end - DECISION_DAYS) * DAY
                    lo = decision - DRIVER_WINDOW_DAYS * DAY
                    hi = min(decision, b.clock + 1)
                    late, filings = self.late_filings_between(i, active, lo, hi)
                    complaints = self.complaints_between(i, lo, hi)
                    rise = sum(quote) / max(sum(fees), 1) - 1.0
                    logit = (c["intercept"] + c["late_filings"] * min(late, DRIVER_CAP)
                             + c["complaints"] * min(complaints, DRIVER_CAP)
                             + c["price_rise_per_10pct"] * rise / 0.10 + c["auto_renew"] * auto)
                    p = _sigmoid(logit)
                    term.decided = True
                    term.p_non_renewal = p
                    term.renewed = bool(rng.random() >= p)
                    term.drivers = {"late_filings": late, "filings_due": filings, "complaints": complaints,
                                    "price_rise": round(rise, 4), "auto_renew": auto}
                else:
                    break  # not decided yet: the chain's last known term
                if not term.renewed:
                    break
                gap = int(rng.integers(*LATE_RENEWAL_GAP_DAYS)) if rng.random() < LATE_RENEWAL_SHARE else 0
                term.next_start_day = end + 1 + gap
                start = term.next_start_day
                fees = quote
                if rng.random() < 0.1:
                    auto = not auto
                k += 1

    def _index(self) -> None:
        """Arrays of the active intervals and of the contract rows (per service slot) written."""
        rows = []
        for term in self.terms:
            if term.start_day > self.clock_day:
                continue
            last = term.terminated_day if term.terminated_day is not None else term.end_day
            for slot, product in enumerate(self._slots(term.customer)):
                rows.append((term.start_day, term.customer, slot, product, last, term))
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        self.rows = rows
        self.contract_id = np.arange(1, len(rows) + 1)
        self.r_start = np.array([r[0] for r in rows], dtype=np.int64)
        self.r_cust = np.array([r[1] for r in rows], dtype=np.int64)
        self.r_slot = np.array([r[2] for r in rows], dtype=np.int64)
        self.r_product = np.array([r[3] for r in rows], dtype=np.int64)
        self.r_last = np.array([r[4] for r in rows], dtype=np.int64)
        self.r_fee = np.array([r[5].fees[r[2]] for r in rows], dtype=np.int64)
        n_prod = len(self.b.catalog)
        key = (self.r_cust * n_prod + self.r_product) * (1 << 20) + (self.r_start - self.b.start_day + 5000)
        order = np.argsort(key, kind="stable")
        self._key, self._key_rows = key[order], order
        self.term_row: dict[tuple[int, int, int], int] = {
            (r[1], r[5].term, r[2]): idx for idx, r in enumerate(rows)}

    # hooks of the generator ---------------------------------------------------------------------------
    def billing_active(self, bill_ts: np.ndarray) -> np.ndarray:
        """Per customer: is ``bill_ts[i]`` inside one of customer i's contract terms (first slot)?"""
        n = len(bill_ts)
        day = np.asarray(bill_ts, dtype=np.int64) // DAY
        main = self.r_slot == 0
        c, s, e = self.r_cust[main], self.r_start[main], self.r_last[main]
        hit = (s <= day[c]) & (day[c] <= e)
        active = np.zeros(n, dtype=bool)
        active[c[hit]] = True
        return active

    def _find(self, cust: np.ndarray, product: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Row index of the contract of (customer, product) in force on each ``ts`` (-1: none)."""
        if len(self._key) == 0 or len(cust) == 0:
            return np.full(len(cust), -1, dtype=np.int64)
        n_prod = len(self.b.catalog)
        day = np.asarray(ts, dtype=np.int64) // DAY
        key = (cust.astype(np.int64) * n_prod + product) * (1 << 20) + (day - self.b.start_day + 5000)
        pos = np.searchsorted(self._key, key, side="right") - 1
        ok = pos >= 0
        row = np.where(ok, self._key_rows[np.maximum(pos, 0)], 0)
        ok &= (self.r_cust[row] == cust) & (self.r_product[row] == product) & (self.r_start[row] <= day) \
            & (day <= self.r_last[row])
        return np.where(ok, row, -1)

    def invoice_prices(self, recurring: np.ndarray, cust: np.ndarray, product: np.ndarray, ts: np.ndarray,
                       price: np.ndarray) -> np.ndarray:
        """Recurring invoice lines are billed at their contract's fee (the list price applies elsewhere)."""
        out = price.copy()
        idx = np.nonzero(recurring & (cust >= 0))[0]
        row = self._find(cust[idx], product[idx], ts[idx])
        has = row >= 0
        out[idx[has]] = self.r_fee[row[has]]
        return out

    def payment_contracts(self, order_idx: np.ndarray) -> np.ndarray:
        """The contract id each payment is against: a recurring invoice's main service's contract."""
        b = self.b
        out = np.full(len(order_idx), NULL_INT, dtype=np.int64)
        rec = np.nonzero(b.o_rec[order_idx])[0]
        cust = b.o_cust[order_idx[rec]]
        row = self._find(cust, self.sub1[np.maximum(cust, 0)], b.o_ts[order_idx[rec]])
        has = row >= 0
        out[rec[has]] = self.contract_id[row[has]]
        return out


def plan_contracts(b: _Builder) -> ServicesPlan | None:
    """The contract plan of a profile with recurring services (None for a shop)."""
    if b.profile.recurring_share <= 0 or not b.subscriber.any():
        return None
    return ServicesPlan(b)


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------
def _ids(prefix: str, ids: np.ndarray, width: int) -> pa.Array:
    return pa.array([f"{prefix}{i:0{width}d}" for i in ids.tolist()], type=pa.string())


def _text(values: Any) -> pa.Array:
    return pa.array([None if v is None else str(v) for v in list(values)], type=pa.string())


def empty_tables() -> dict[str, dict[str, Any]]:
    """The services tables with no rows (a shop's CRM has none)."""
    from warehouse.ingest import source_contract as schema

    out: dict[str, dict[str, Any]] = {}
    for name in schema.SERVICES_TABLES:
        cols: dict[str, Any] = {}
        for column in schema.metadata.tables[name].columns:
            import sqlalchemy as sa

            kind = column.type
            if isinstance(kind, sa.String | sa.Text):
                cols[column.name] = pa.array([], type=pa.string())
            elif isinstance(kind, sa.Boolean):
                cols[column.name] = np.zeros(0, dtype=bool)
            else:
                cols[column.name] = np.zeros(0, dtype=np.int64)
        out[name] = cols
    return out


def build_tables(b: _Builder, plan: ServicesPlan | None) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """The six services tables and the ground truth's ``services`` section (None without a plan)."""
    if plan is None:
        return empty_tables(), None
    tables: dict[str, dict[str, Any]] = {}
    funnel = _Funnel(b, plan)
    tables["leads"], tables["opportunities"], tables["opportunity_stage_history"] = funnel.tables()
    tables["contracts"] = _contracts_table(b, plan, funnel)
    tables["service_orders"], tables["service_steps"], sla_truth = _service_orders(b, plan)
    truth = {
        "funnel": funnel.truth(),
        "renewal": _renewal_truth(b, plan),
        "service_delivery": sla_truth,
    }
    return tables, truth


# --- leads and opportunities ------------------------------------------------------------------------
class _Funnel:
    """Leads, opportunities and their stage history, vectorized over groups of equal stage paths."""

    def __init__(self, b: _Builder, plan: ServicesPlan) -> None:
        self.b = b
        self.plan = plan
        rng = _rng(b.seed, "funnel")
        self.rng = rng
        self.rep_slowness = np.where(rng.random(len(b.rep_ids)) < SLOW_REP_SHARE, SLOW_REP_FACTOR, 1.0)
        self.channels = [a for a, _ in b.profile.acquisition_channels]
        self._generate()

    def _slowness(self, reps: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.b.rep_ids, reps)
        return self.rep_slowness[np.clip(pos, 0, len(self.rep_slowness) - 1)]

    def _durations(self, stages: list[str], slowness: np.ndarray) -> np.ndarray:
        """Seconds spent in each of ``stages`` (columns) for each opportunity (rows)."""
        median = np.array([STAGE_MEDIAN_DAYS[s] for s in stages])[None, :] * slowness[:, None]
        days = np.exp(np.log(median) + self.rng.normal(0.0, STAGE_SIGMA, size=median.shape))
        return np.maximum(np.rint(days * DAY), 3600).astype(np.int64)

    @staticmethod
    def _template(final: str, skip_q: bool, skip_n: bool, back: bool) -> tuple[str, ...]:
        """The stages entered, ending with ``final`` (won, or the last stage before lost)."""
        path = ["new", "qualified", "proposal", "negotiation"] if final == "won" else \
            list(OPEN_STAGES[: OPEN_STAGES.index(final) + 1])
        if skip_q and "qualified" in path and path[-1] != "qualified":
            path.remove("qualified")
        if skip_n and final == "won":
            path.remove("negotiation")
        if back and "negotiation" in path and "proposal" in path:
            path += ["proposal", "negotiation"]
        return (*path, "won") if final == "won" else (*path, "lost")

    def _generate(self) -> None:
        b, rng, plan = self.b, self.rng, self.plan
        segments = np.array([s for s, _, _ in b.profile.segments], dtype=object)
        regions = np.array(b.regions, dtype=object)
        channels = np.array(self.channels, dtype=object)
        won = np.nonzero(b.signup >= b.start)[0]
        # leads: the won ones (one per customer acquired in the history); per channel, at the same daily rate,
        # the wins still to come after the clock (open at the clock; their customers are not in the source);
        # and the lost and disqualified ones at the planted rates, so every settled cohort converts at them
        kinds, chan, owner, seg, reg, cust = [np.full(len(won), "won", dtype=object)], [channels[b.acq_idx[won]]], \
            [b.sales_rep[won].astype(np.int64)], [segments[b.segment_idx[won]]], [regions[b.region_idx[won]]], [won]
        acq_won = channels[b.acq_idx[won]]
        won_span = max(float(b.signup_day[won].max() - b.start_day + 1), 1.0) if len(won) else 1.0
        lead_span = (b.clock - (int(b.start) - NON_WON_LEAD_LEAD_DAYS * DAY)) / DAY
        for channel in self.channels:
            per_day = int((acq_won == channel).sum()) / won_span
            q, w = FUNNEL_RATES.get(channel, DEFAULT_FUNNEL_RATE)
            n_future = int(rng.poisson(per_day * FUTURE_WIN_DAYS))
            n_lost = int(rng.poisson(per_day * lead_span * (1.0 / w - 1.0)))
            n_disq = int(rng.poisson(per_day * lead_span / w * (1.0 / q - 1.0)))
            m = n_future + n_lost + n_disq
            kinds.append(np.array(["won_later"] * n_future + ["lost"] * n_lost + ["disqualified"] * n_disq,
                                  dtype=object))
            chan.append(np.full(m, channel, dtype=object))
            owner.append(b.rep_ids[rng.integers(len(b.rep_ids), size=m)].astype(np.int64))
            seg.append(segments[rng.integers(len(segments), size=m)])
            reg.append(regions[rng.integers(len(regions), size=m)])
            cust.append(np.full(m, -1, dtype=np.int64))
        kind = np.concatenate(kinds)
        n = len(kind)
        self.kind = kind
        self.channel = np.concatenate(chan)
        self.owner = np.concatenate(owner)
        self.segment = np.concatenate(seg)
        self.region = np.concatenate(reg)
        self.customer = np.concatenate(cust)
        slowness = self._slowness(self.owner)
        lo = int(b.start) - NON_WON_LEAD_LEAD_DAYS * DAY
        created = (lo + rng.random(n) * (b.clock - lo)).astype(np.int64)
        won_at = np.where(kind == "won", b.signup[np.maximum(self.customer, 0)],
                          b.clock + 1 + (rng.random(n) * FUTURE_WIN_DAYS * DAY).astype(np.int64))
        lead_dur = self._durations(["lead"], slowness)[:, 0]
        # the opportunity's path
        is_won = kind == "won"
        stage_of_loss = _Picker.of(LOST_AT_STAGE)
        final = np.array([("won" if k in ("won", "won_later") else stage_of_loss(rng) if k == "lost" else "")
                          for k in kind.tolist()], dtype=object)
        skip_q = rng.random(n) < SKIP_QUALIFIED_SHARE
        skip_n = rng.random(n) < SKIP_NEGOTIATION_SHARE
        back = rng.random(n) < BACKWARD_SHARE
        has_opp = kind != "disqualified"
        templates: dict[tuple[str, ...], list[int]] = {}
        for j in np.nonzero(has_opp)[0].tolist():
            key = self._template(final[j], bool(skip_q[j]), bool(skip_n[j]), bool(back[j]))
            templates.setdefault(key, []).append(j)
        # amounts: subscription leads quote a year of monthly fees, others a one-off service
        sub_share = float(b.subscriber[won].mean()) if len(won) else 0.0
        is_sub = np.where(is_won, b.subscriber[np.maximum(self.customer, 0)], rng.random(n) < sub_share)
        cat = b.catalog
        sellable = cat.is_merchandise & (cat.billing != "monthly")
        one_off = _Picker(range(len(cat)), np.where(sellable, cat.popularity, 0.0))
        monthly = plan.monthly_products
        product = np.where(is_sub, monthly[rng.integers(len(monthly), size=n)],
                           np.array([one_off(rng) for _ in range(n)], dtype=np.int64))
        product = np.where(is_won & is_sub, plan.sub1[np.maximum(self.customer, 0)], product)
        amount = np.where(is_sub, cat.price_cents[product] * 12, cat.price_cents[product]).astype(np.int64)
        two = is_won & is_sub & plan.two[np.maximum(self.customer, 0)]
        amount = np.where(two, amount + cat.price_cents[plan.sub2[np.maximum(self.customer, 0)]] * 12, amount)
        discount = rng.uniform(0.85, 1.0, size=n)
        # stage times: won ones end on the customer's signup, the others start at the lead's creation
        opened = np.full(n, NULL_TS, dtype=np.int64)
        rows_opp, rows_stage, rows_ts, rows_amount = [], [], [], []
        for key, members in templates.items():
            idx = np.array(members, dtype=np.int64)
            dur = self._durations(list(key[:-1]), slowness[idx])
            cum = np.concatenate([np.zeros((len(idx), 1), dtype=np.int64), np.cumsum(dur, axis=1)], axis=1)
            if key[-1] == "won":
                times = won_at[idx][:, None] - cum[:, -1:] + cum
                created[idx] = times[:, 0] - lead_dur[idx]
            else:
                times = (created[idx] + lead_dur[idx])[:, None] + cum
            opened[idx] = times[:, 0]
            first_neg = key.index("negotiation") if "negotiation" in key else len(key)
            for k, stage in enumerate(key):
                value = amount[idx] if k < first_neg else np.rint(amount[idx] * discount[idx]).astype(np.int64)
                rows_opp.append(idx)
                rows_stage.append(np.full(len(idx), stage, dtype=object))
                rows_ts.append(times[:, k])
                rows_amount.append(value)
        self.created = created
        self.opened = opened
        self.disqualified = np.where(kind == "disqualified", created + 2 * lead_dur, NULL_TS)
        reasons = _Picker.of(DISQUALIFY_REASONS)
        self.disqualify_reason = np.array([reasons(rng) if k == "disqualified" else None for k in kind.tolist()],
                                          dtype=object)
        lost = _Picker.of(LOST_REASONS)
        self.lost_reason = np.array([lost(rng) if k == "lost" else None for k in kind.tolist()], dtype=object)
        self.product = product
        self.h_opp = np.concatenate(rows_opp) if rows_opp else np.zeros(0, dtype=np.int64)
        self.h_stage = np.concatenate(rows_stage) if rows_stage else np.zeros(0, dtype=object)
        self.h_ts = np.concatenate(rows_ts) if rows_ts else np.zeros(0, dtype=np.int64)
        self.h_amount = np.concatenate(rows_amount) if rows_amount else np.zeros(0, dtype=np.int64)
        # ids in order of creation
        lead_order = np.lexsort((self.owner, self.channel.astype(str), created))
        self.lead_id = np.empty(n, dtype=np.int64)
        self.lead_id[lead_order] = np.arange(1, n + 1)
        opp_members = np.nonzero(has_opp)[0]
        opp_order = opp_members[np.lexsort((self.owner[opp_members], opened[opp_members]))]
        self.opp_id = np.full(n, NULL_INT, dtype=np.int64)
        self.opp_id[opp_order] = np.arange(1, len(opp_order) + 1)
        self.won_opp_id = {int(self.customer[j]): int(self.opp_id[j]) for j in np.nonzero(is_won)[0].tolist()}
        self.has_opp = has_opp

    def tables(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        b = self.b
        clock = b.clock
        # leads known by the clock
        seen = self.created <= clock
        converted = np.where(self.has_opp & (self.opened <= clock), self.opened, NULL_TS)
        disq = np.where((self.disqualified != NULL_TS) & (self.disqualified <= clock), self.disqualified, NULL_TS)
        status = np.where(converted != NULL_TS, "converted", np.where(disq != NULL_TS, "disqualified", "new"))
        won_known = (self.customer >= 0) & (b.signup[np.maximum(self.customer, 0)] <= clock)
        won_ts = np.where(won_known, b.signup[np.maximum(self.customer, 0)], NULL_TS)
        updated = np.maximum.reduce([self.created, converted, disq, won_ts])
        order = np.argsort(self.lead_id)
        order = order[seen[order]]
        lead_table = {
            "lead_id": self.lead_id[order], "lead_code": _ids("L", self.lead_id[order], 7),
            "channel": _text(self.channel[order]), "owner_id": self.owner[order],
            "segment": _text(self.segment[order]), "region": _text(self.region[order]),
            "status": _text(status[order]), "converted_at": converted[order], "disqualified_at": disq[order],
            "disqualify_reason": _text(np.where(disq != NULL_TS, self.disqualify_reason, None)[order]),
            "customer_id": np.where(won_known, self.customer + 1, NULL_INT)[order],
            "created_at": self.created[order], "updated_at": updated[order],
            "is_deleted": np.zeros(len(order), dtype=bool),
        }
        # stage history known by the clock, in time order
        keep = self.h_ts <= clock
        h_opp, h_stage, h_ts, h_amount = self.h_opp[keep], self.h_stage[keep], self.h_ts[keep], self.h_amount[keep]
        h_oid = self.opp_id[h_opp]
        h_order = np.lexsort((np.arange(len(h_ts)), h_oid, h_ts))
        h_opp, h_stage, h_ts, h_amount, h_oid = (a[h_order] for a in (h_opp, h_stage, h_ts, h_amount, h_oid))
        k = len(h_ts)
        hist_table = {
            "stage_change_id": np.arange(1, k + 1), "opportunity_id": h_oid, "stage": _text(h_stage),
            "changed_at": h_ts, "changed_by": self.owner[h_opp], "amount": h_amount, "created_at": h_ts,
            "updated_at": h_ts, "is_deleted": np.zeros(k, dtype=bool),
        }
        # opportunities: the state after their last change known by the clock
        by_opp = np.lexsort((h_ts, h_oid))
        last = np.r_[h_oid[by_opp][1:] != h_oid[by_opp][:-1], True] if k else np.zeros(0, dtype=bool)
        first = np.r_[True, h_oid[by_opp][1:] != h_oid[by_opp][:-1]] if k else np.zeros(0, dtype=bool)
        li, fi = by_opp[last], by_opp[first]
        j = h_opp[li]  # lead index of each opportunity (ordered by opportunity id)
        stage = h_stage[li]
        closed = np.isin(stage, ["won", "lost"])
        oid = h_oid[li]
        m = len(oid)
        opp_table = {
            "opportunity_id": oid, "opportunity_code": _ids("OP", oid, 7), "lead_id": self.lead_id[j],
            "customer_id": np.where(stage == "won", self.customer[j] + 1, NULL_INT), "owner_id": self.owner[j],
            "product_code": _text(b.catalog.codes[self.product[j]]), "amount": h_amount[li], "stage": _text(stage),
            "expected_close_date": h_ts[fi] // DAY + 30, "closed_at": np.where(closed, h_ts[li], NULL_TS),
            "lost_reason": _text(np.where(stage == "lost", self.lost_reason[j], None)),
            "created_at": h_ts[fi], "updated_at": h_ts[li], "is_deleted": np.zeros(m, dtype=bool),
        }
        return lead_table, opp_table, hist_table

    def truth(self) -> dict[str, Any]:
        b = self.b
        rates = {}
        for channel in self.channels:
            q, w = FUNNEL_RATES.get(channel, DEFAULT_FUNNEL_RATE)
            mine = self.channel == channel
            rates[channel] = {"lead_to_opportunity": q, "opportunity_to_won": w, "lead_to_won": round(q * w, 4),
                              "leads": int(mine.sum()), "opportunities": int((mine & self.has_opp).sum()),
                              "won": int((mine & (self.kind == "won")).sum()),
                              "won_after_clock": int((mine & (self.kind == "won_later")).sum())}
        return {
            "process": "one won lead per customer acquired in the history (its acquisition channel, its sales "
                       "rep, closing on its signup); per channel at the same daily rate r_won: wins in the "
                       "future_win_days after the clock (open in the source), lost opportunities ~ Poisson(r_won * "
                       "days * (1/opportunity_to_won - 1)) and disqualified leads ~ Poisson(r_won * days / "
                       "opportunity_to_won * (1/lead_to_opportunity - 1)) created uniformly from "
                       "non_won_lead_lead_days before the history to the clock; stage durations lognormal x the "
                       "rep's slowness; events after the clock are not in the source (the counts here include them)",
            "future_win_days": FUTURE_WIN_DAYS, "non_won_lead_lead_days": NON_WON_LEAD_LEAD_DAYS,
            "stages": list(STAGES),
            "conversion_by_channel": rates,
            "stage_median_days": STAGE_MEDIAN_DAYS, "stage_sigma": STAGE_SIGMA,
            "skip_qualified_share": SKIP_QUALIFIED_SHARE, "skip_negotiation_share": SKIP_NEGOTIATION_SHARE,
            "backward_share": BACKWARD_SHARE, "lost_at_stage": LOST_AT_STAGE,
            "slow_reps": {f"E{int(r):04d}": float(f) for r, f in zip(b.rep_ids.tolist(), self.rep_slowness.tolist(),
                                                                      strict=True) if f > 1.0},
            "slow_rep_factor": SLOW_REP_FACTOR,
        }


# --- contracts --------------------------------------------------------------------------------------
def _contracts_table(b: _Builder, plan: ServicesPlan, funnel: _Funnel) -> dict[str, Any]:
    rng = _rng(b.seed, "contracts")
    clock, clock_day = b.clock, plan.clock_day
    cols: dict[str, list[Any]] = {k: [] for k in (
        "customer_id", "opportunity_id", "product_code", "owner_id", "agent_id", "signed_at", "start_date",
        "end_date", "fee", "auto_renew", "renewal_fee", "renewal_notice_at", "renewed_from_contract_id",
        "status", "terminated_at", "termination_reason", "created_at", "updated_at")}
    for idx, (start, cust, slot, product, _last, term) in enumerate(plan.rows):
        del idx
        signed = int(b.signup[cust]) if term.term == 0 else start * DAY + 9 * 3600
        signed = min(signed, start * DAY + 20 * 3600)
        prev = plan.term_row.get((cust, term.term - 1, slot)) if term.term > 0 else None
        successor = plan.term_row.get((cust, term.term + 1, slot))
        status, changed = "active", signed
        notice = term.notice_ts if term.terminated_day is None else None
        if term.terminated_day is not None and term.terminated_day <= clock_day:
            status, changed = "terminated", term.terminated_day * DAY + 18 * 3600
        elif successor is not None:
            status, changed = "renewed", plan.rows[successor][0] * DAY + 9 * 3600
        elif term.end_day < clock_day:
            status, changed = "expired", (term.end_day + 1) * DAY + 1
        if notice is not None and notice > changed:
            changed = notice
        cols["customer_id"].append(cust + 1)
        cols["opportunity_id"].append(funnel.won_opp_id.get(cust, NULL_INT) if term.term == 0 else NULL_INT)
        cols["product_code"].append(str(b.catalog.codes[product]))
        cols["owner_id"].append(int(b.sales_rep[cust]))
        cols["agent_id"].append(int(b.agent_ids[plan.agent_of[cust]]))
        cols["signed_at"].append(signed)
        cols["start_date"].append(start)
        cols["end_date"].append(term.end_day)
        cols["fee"].append(term.fees[slot])
        cols["auto_renew"].append(term.auto_renew)
        cols["renewal_fee"].append(term.renewal_fees[slot] if notice is not None and term.renewal_fees else NULL_INT)
        cols["renewal_notice_at"].append(NULL_TS if notice is None else notice)
        cols["renewed_from_contract_id"].append(int(plan.contract_id[prev]) if prev is not None else NULL_INT)
        cols["status"].append(status)
        cols["terminated_at"].append(term.terminated_day if status == "terminated" else NULL_DATE)
        cols["termination_reason"].append(str(TERMINATION_REASONS[int(rng.integers(len(TERMINATION_REASONS)))])
                                          if status == "terminated" else None)
        cols["created_at"].append(signed)
        cols["updated_at"].append(min(max(changed, signed), clock))
    n = len(plan.rows)
    ids = plan.contract_id
    return {
        "contract_id": ids, "contract_number": _ids("HT", ids, 8),
        "customer_id": np.array(cols["customer_id"], dtype=np.int64),
        "opportunity_id": np.array(cols["opportunity_id"], dtype=np.int64),
        "product_code": _text(cols["product_code"]), "owner_id": np.array(cols["owner_id"], dtype=np.int64),
        "agent_id": np.array(cols["agent_id"], dtype=np.int64),
        "signed_at": np.array(cols["signed_at"], dtype=np.int64),
        "start_date": np.array(cols["start_date"], dtype=np.int64),
        "end_date": np.array(cols["end_date"], dtype=np.int64),
        "billing_period": pa.array(["monthly"] * n, pa.string()), "fee": np.array(cols["fee"], dtype=np.int64),
        "auto_renew": np.array(cols["auto_renew"], dtype=bool),
        "renewal_fee": np.array(cols["renewal_fee"], dtype=np.int64),
        "renewal_notice_at": np.array(cols["renewal_notice_at"], dtype=np.int64),
        "renewed_from_contract_id": np.array(cols["renewed_from_contract_id"], dtype=np.int64),
        "status": _text(cols["status"]), "terminated_at": np.array(cols["terminated_at"], dtype=np.int64),
        "termination_reason": _text(cols["termination_reason"]),
        "created_at": np.array(cols["created_at"], dtype=np.int64),
        "updated_at": np.array(cols["updated_at"], dtype=np.int64), "is_deleted": np.zeros(n, dtype=bool),
    }


def _renewal_truth(b: _Builder, plan: ServicesPlan) -> dict[str, Any]:
    outcomes: dict[str, Any] = {}
    for start, cust, slot, _product, _last, term in plan.rows:
        del start
        if not term.decided:
            continue
        number = f"HT{int(plan.contract_id[plan.term_row[(cust, term.term, slot)]]):08d}"
        outcomes[number] = {
            "customer_id": f"C{cust + 1:06d}", "end_date": _iso(term.end_day), "renewed": bool(term.renewed),
            "next_start_date": _iso(term.next_start_day) if term.next_start_day is not None else None,
            "p_non_renewal": round(float(term.p_non_renewal or 0.0), 4),
            "after_clock": term.end_day > plan.clock_day, **(term.drivers or {}),
        }
    decided = [t for t in plan.terms if t.decided]
    return {
        "process": "12-month terms from signup; each decided DECISION_DAYS before its end: logit P(not renewed) = "
                   "intercept + late_filings * n_late + complaints * n_complaints + price_rise_per_10pct * "
                   "(quote / fee - 1) / 0.1 + auto_renew * auto_renew; counts over the driver window before the "
                   "decision (up to the clock), capped; a churned customer's contracts end early (terminated); "
                   "renewal contracts are recorded on their first day, so renewals after the clock are only here",
        "coefficients": RENEWAL_COEFFICIENTS, "driver_cap": DRIVER_CAP, "term_days": TERM_DAYS,
        "notice_days": NOTICE_DAYS, "decision_days": DECISION_DAYS, "driver_window_days": DRIVER_WINDOW_DAYS,
        "future_days": FUTURE_DAYS, "auto_renew_share": AUTO_RENEW_SHARE, "uplift_share": UPLIFT_SHARE,
        "uplift_range": list(UPLIFT_RANGE), "late_renewal_share": LATE_RENEWAL_SHARE,
        "late_renewal_gap_days": list(LATE_RENEWAL_GAP_DAYS),
        "filing_lateness": {"base": FILING_BASE, "late_sender": FILING_LATE_SENDER, "agent_log_slowness": FILING_AGENT,
                            "sd": FILING_SD, "late_sender_share": LATE_SENDER_SHARE},
        "subscribers": len(plan.subscribers), "terms_decided": len(decided),
        "non_renewals": sum(1 for t in decided if not t.renewed),
        # ended early by the customer's churn inside the history (in the source) and after it (the planted
        # future of warehouse.demo.churn_future: ground truth only)
        "terminated_early": sum(1 for t in plan.terms
                                if t.terminated_day is not None and t.terminated_day <= plan.clock_day),
        "terminated_early_after_end_date": sum(1 for t in plan.terms
                                               if t.terminated_day is not None and t.terminated_day > plan.clock_day),
        "late_renewals": sum(1 for t in plan.terms if t.next_start_day is not None and t.next_start_day > t.end_day + 1),
        "outcome_by_contract": outcomes,
    }


# --- service orders and steps -----------------------------------------------------------------------
def _service_orders(b: _Builder, plan: ServicesPlan) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A service order per sold line of a service with a process; its steps as far as the clock."""
    rng = _rng(b.seed, "service_orders")
    cat = b.catalog
    processes: dict[str, ServiceProcess] = plan.by_category
    lines = b.l
    clock = b.clock
    order_idx = np.asarray(lines["order_id"], dtype=np.int64) - 1
    product = np.asarray(b.line_product_idx, dtype=np.int64)
    category = cat.categories[product]
    process_of = np.array([processes[c].code if c in processes else "" for c in category.tolist()], dtype=object)
    keep = ((process_of != "") & ~b.line_is_dup & ~b.line_is_return & (np.asarray(lines["quantity"]) > 0)
            & ~b.o_cancelled[order_idx])
    sel = np.nonzero(keep)[0]
    o = order_idx[sel]
    cust = b.o_cust[o].astype(np.int64)
    ts = b.o_ts[o].astype(np.int64)
    prod = product[sel]
    proc = process_of[sel]
    opened = ts + rng.integers(600, 4 * 3600, size=len(sel))
    recurring = b.o_rec[o] & (cust >= 0)
    row = plan._find(np.where(recurring, cust, 0), prod, ts)
    contract = np.where(recurring & (row >= 0), plan.contract_id[np.maximum(row, 0)], NULL_INT)
    agent_pos = np.where(recurring, plan.agent_of[np.maximum(cust, 0)], rng.integers(len(b.agent_ids), size=len(sel)))
    slowness = b.agent_slowness[agent_pos]
    period = np.array([p for p, _ in b.period_bounds], dtype=np.int64)
    pidx = np.clip(np.searchsorted(period, ts, side="right") - 1, 0, len(period) - 1)
    slot = np.where(prod == plan.sub1[np.maximum(cust, 0)], 0, 1)
    filing_late = np.where(recurring, plan.filing_days_late[np.maximum(cust, 0), slot, pidx],
                           np.rint(rng.normal(FILING_BASE, FILING_SD, size=len(sel))).astype(np.int64))
    visible = opened <= clock
    closed = np.full(len(sel), NULL_TS, dtype=np.int64)
    last_change = opened.copy()
    step_parts: list[tuple[np.ndarray, ...]] = []
    for code, process in plan.processes.items():
        members = np.nonzero((proc == code) & visible)[0]
        if not len(members):
            continue
        start = opened[members]
        running = np.ones(len(members), dtype=bool)  # the previous step is done by the clock
        for k, step in enumerate(process.steps):
            if step.due_day_of_next_month is not None:
                due_day = next_month_day(ts[members], int(step.due_day_of_next_month))
                due = due_day * DAY + DAY - 1
                done = (due_day + filing_late[members]) * DAY + rng.integers(9 * 3600, 18 * 3600, size=len(members))
                done = np.maximum(done, start + 3600)
            else:
                due = start + int(step.sla_days) * DAY
                median = STEP_MEDIAN_SHARE * float(step.sla_days) * slowness[members]
                days = np.exp(np.log(median) + rng.normal(0.0, STEP_SIGMA, size=len(members)))
                done = start + np.maximum(np.rint(days * DAY), 1800).astype(np.int64)
            started = running & (start <= clock)
            finished = started & (done <= clock)
            s = np.nonzero(started)[0]
            step_parts.append((members[s], np.full(len(s), k + 1), np.full(len(s), step.code, dtype=object),
                               start[s], due[s], np.where(finished[s], done[s], NULL_TS)))
            last_change[members[s]] = np.where(finished[s], done[s], start[s])
            if k == len(process.steps) - 1:
                closed[members[finished]] = done[finished]
            running = finished
            start = done + rng.integers(600, 6 * 3600, size=len(members))
    # service orders in order of opening; their steps by order and step number
    vis = np.nonzero(visible)[0]
    order = vis[np.lexsort((vis, opened[vis]))]
    m = len(order)
    new_id = np.full(len(sel), NULL_INT, dtype=np.int64)
    new_id[order] = np.arange(1, m + 1)
    so_table = {
        "service_order_id": np.arange(1, m + 1), "service_order_number": _ids("SV", np.arange(1, m + 1), 8),
        "order_id": o[order] + 1, "contract_id": contract[order],
        "customer_id": np.where(cust[order] >= 0, cust[order] + 1, NULL_INT),
        "product_code": _text(cat.codes[prod[order]]), "process": _text(proc[order]),
        "agent_id": b.agent_ids[agent_pos[order]].astype(np.int64), "opened_at": opened[order],
        "closed_at": closed[order], "status": _text(np.where(closed[order] != NULL_TS, "done", "open")),
        "created_at": opened[order], "updated_at": last_change[order], "is_deleted": np.zeros(m, dtype=bool),
    }
    if step_parts:
        who, number, code, started, due, completed = (np.concatenate(x) for x in zip(*step_parts, strict=True))
    else:
        who = number = started = due = completed = np.zeros(0, dtype=np.int64)
        code = np.zeros(0, dtype=object)
    so_of = new_id[who]
    s_order = np.lexsort((number, so_of))
    k = len(s_order)
    started, completed, due = started[s_order], completed[s_order], due[s_order]
    step_table = {
        "step_id": np.arange(1, k + 1), "service_order_id": so_of[s_order], "step_number": number[s_order],
        "step_code": _text(code[s_order]), "agent_id": b.agent_ids[agent_pos[who[s_order]]].astype(np.int64),
        "started_at": started, "due_at": due, "completed_at": completed,
        "status": _text(np.where(completed != NULL_TS, "done", "in_progress")), "created_at": started,
        "updated_at": np.where(completed == NULL_TS, started, completed), "is_deleted": np.zeros(k, dtype=bool),
    }
    done_mask = completed != NULL_TS
    truth = {
        "sla_file": "warehouse/core/rules/service_sla.toml",
        "process": "one-off steps take lognormal(log(step_median_share * sla_days * agent slowness), step_sigma) "
                   "days; monthly filings are done filing_days_late days after their due day (see renewal."
                   "filing_lateness)",
        "step_median_share": STEP_MEDIAN_SHARE, "step_sigma": STEP_SIGMA,
        "agent_slowness": {f"E{int(a):04d}": round(float(s), 4)
                           for a, s in zip(b.agent_ids.tolist(), b.agent_slowness.tolist(), strict=True)},
        "late_senders": int(plan.late_sender[plan.subscribers].sum()),
        "steps": int(k), "steps_done": int(done_mask.sum()),
        "steps_done_late": int((done_mask & (completed > due)).sum()),
    }
    return so_table, step_table, truth
