"""Vectorized generator of the demo CRM source (``crmwh demo generate``).

Everything is drawn with numpy from streams seeded by (seed, component), over a business calendar that
ends on a fixed date, so the same seed, scale, profile and end date always give the same database.
Tables follow ``warehouse.ingest.source_contract`` (the source contract) and are bulk-loaded by ``warehouse.demo.writer``.

The business is simulated in 30-day periods. Each customer has latent traits (purchase rate, ticket
rate, complaint propensity, a possible onset of declining purchases, payment behaviour). In each
period the customer's churn hazard is

    h = base_hazard * exp(b_complaints * complaints + b_slow * slow_resolutions
                          + b_low_sat * low_satisfaction + b_decline * purchase_decline)

with the counts taken over the previous four periods (capped) and ``purchase_decline`` in [0, 1] the
fall of the customer's purchase rate since its onset. A churned customer opens no tickets and places no
orders after the churn date. True churn dates, the coefficients, the planted product bundles and the
counts of planted dirt go to the ground-truth JSON file, never into the source tables.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from warehouse.demo import churn_future, services, taste, vocab
from warehouse.demo.config import (
    DAY,
    EPOCH,
    Catalog,
    DemoError,
    ProfileSpec,
    ScaleSpec,
    get_profile,
    get_scale,
    load_catalog,
)
from warehouse.demo.state import DemoState, state_metadata, write_state
from warehouse.demo.writer import NULL_INT, NULL_TS, BulkWriter
from warehouse.ingest import source_contract as schema

GENERATOR_VERSION = 1
PERIOD_DAYS = 30
WINDOW_PERIODS = 4  # churn drivers are counted over this many previous periods
DRIVER_CAP = 4

# Churn process (declared once; written to the ground truth).
CHURN_BASE_MONTHLY_HAZARD = 0.0006
CHURN_COEFFICIENTS = {
    "complaints": 1.1,  # per complaint ticket in the previous WINDOW_PERIODS periods (capped)
    "slow_resolutions": 0.5,  # per ticket resolved after more than SLOW_RESOLUTION_HOURS
    "low_satisfaction": 1.0,  # per satisfaction score <= 2
    "purchase_decline": 4.0,  # purchase-rate fall since the onset of decline, 0..1
}
SLOW_RESOLUTION_HOURS = 72.0
DECLINE_SHARE = 0.4
DECLINE_TAU_DAYS = 90.0
DECLINE_TICKET_BOOST = 8.0  # ticket rate multiplier 1 + boost * decline
DECLINE_COMPLAINT_BOOST = 3.0  # added to the complaint log-odds at full decline

# Planted bundles: shares of ordinary baskets that receive each bundle.
BUNDLE_SHARES = (0.030, 0.025, 0.020, 0.020, 0.015, 0.015, 0.012)


@dataclass(frozen=True)
class GenerateOptions:
    scale: str = "small"
    seed: int = 42
    profile: str = "retail"
    end_date: dt.date = dt.date(2025, 12, 31)
    history_days: int = 730
    dirt_rate: float = 0.01


@dataclass
class Dataset:
    """Generated columns per table plus the ground truth; nothing written yet."""

    tables: dict[str, dict[str, Any]]
    ground_truth: dict[str, Any]
    state: DemoState


@dataclass
class GenerationResult:
    url: str
    ground_truth_path: Path
    counts: dict[str, int]
    seconds: float
    state: DemoState
    timings: dict[str, float] = field(default_factory=dict)


def _rng(seed: int, component: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(component.encode())])


def _choice_idx(rng: np.random.Generator, weights: Any, size: int) -> np.ndarray:
    """Indices drawn with the given (unnormalized) weights, via inverse CDF (fast for big sizes)."""
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)


def _strings(values: np.ndarray) -> pa.Array:
    return pa.array(values.tolist(), type=pa.string())


def _take(dictionary: Any, idx: np.ndarray) -> pa.Array:
    return pa.array(list(dictionary), type=pa.string()).take(pa.array(np.asarray(idx, dtype=np.int64)))


def _fmt_ids(prefix: str, ids: np.ndarray, width: int) -> pa.Array:
    return pa.array([f"{prefix}{i:0{width}d}" for i in ids.tolist()], type=pa.string())


def _cumcount(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2 ... within runs of equal values of a sorted array."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, groups[1:] != groups[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - first


def _first_occurrences(key: np.ndarray) -> np.ndarray:
    """Ascending positions of the first occurrence of each value (``np.unique``'s index, sort based)."""
    order = np.argsort(key, kind="stable")
    ranked = key[order]
    starts = np.r_[True, ranked[1:] != ranked[:-1]] if len(ranked) else np.zeros(0, dtype=bool)
    return np.sort(order[starts])


def _without(values: np.ndarray, drop: np.ndarray, size: int) -> np.ndarray:
    """Sorted ``values`` (positions below ``size``) minus ``drop``: ``np.setdiff1d`` without hashing."""
    keep = np.zeros(size, dtype=bool)
    keep[values] = True
    keep[drop] = False
    return np.nonzero(keep)[0]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _day_of(seconds: np.ndarray) -> np.ndarray:
    return np.asarray(seconds, dtype=np.int64) // DAY


# --------------------------------------------------------------------------------------------------
# Employees and customers
# --------------------------------------------------------------------------------------------------
def _people_names(rng: np.random.Generator, n: int, profile: ProfileSpec) -> tuple[list[str], list[str]]:
    """Person names and the email local parts that go with them."""
    if profile.name == "services":
        s = rng.integers(len(vocab.SURNAMES_ZH), size=n)
        g = rng.integers(len(vocab.GIVEN_NAMES_ZH), size=n)
        names = [vocab.SURNAMES_ZH[a][0] + vocab.GIVEN_NAMES_ZH[b][0] for a, b in zip(s, g, strict=True)]
        local = [vocab.GIVEN_NAMES_ZH[b][1] + vocab.SURNAMES_ZH[a][1] for a, b in zip(s, g, strict=True)]
        return names, local
    f = rng.integers(len(vocab.FIRST_NAMES_EN), size=n)
    last = rng.integers(len(vocab.LAST_NAMES_EN), size=n)
    names = [f"{vocab.FIRST_NAMES_EN[a]} {vocab.LAST_NAMES_EN[b]}" for a, b in zip(f, last, strict=True)]
    local = [f"{vocab.FIRST_NAMES_EN[a]}.{vocab.LAST_NAMES_EN[b]}".lower() for a, b in zip(f, last, strict=True)]
    return names, local


def _company_names(rng: np.random.Generator, n: int, profile: ProfileSpec,
                   cities: list[str]) -> tuple[list[str], list[str]]:
    if profile.name == "services":
        w = rng.integers(len(vocab.COMPANY_WORDS_ZH), size=n)
        k = rng.integers(len(vocab.COMPANY_KINDS_ZH), size=n)
        names = [f"{c}{vocab.COMPANY_WORDS_ZH[a][0]}{vocab.COMPANY_KINDS_ZH[b]}有限公司"
                 for c, a, b in zip(cities, w, k, strict=True)]
        local = [vocab.COMPANY_WORDS_ZH[a][1] for a in w]
        return names, local
    w = rng.integers(len(vocab.COMPANY_WORDS_EN), size=n)
    k = rng.integers(len(vocab.COMPANY_KINDS_EN), size=n)
    s = rng.integers(len(vocab.COMPANY_SUFFIX_EN), size=n)
    names = [f"{vocab.COMPANY_WORDS_EN[a]} {vocab.COMPANY_KINDS_EN[b]} {vocab.COMPANY_SUFFIX_EN[c]}"
             for a, b, c in zip(w, k, s, strict=True)]
    local = [f"{vocab.COMPANY_WORDS_EN[a]}{vocab.COMPANY_KINDS_EN[b]}".lower() for a, b in zip(w, k, strict=True)]
    return names, local


def _phones(rng: np.random.Generator, n: int, profile: ProfileSpec) -> list[str]:
    a = rng.integers(0, 1000, size=n)
    b = rng.integers(0, 1_000_000, size=n)
    style = rng.integers(0, 3, size=n)
    if profile.name == "services":
        prefix = rng.choice(np.array([130, 135, 136, 138, 139, 150, 158, 186, 188, 199]), size=n)
        formats = ("{p}{a:04d}{b:04d}", "{p} {a:04d} {b:04d}", "+86 {p}{a:04d}{b:04d}")
        return [formats[s].format(p=p, a=x % 10000, b=y % 10000)
                for p, x, y, s in zip(prefix, a, b, style, strict=True)]
    formats = ("07{a:03d} {b:06d}", "07{a:03d}{b:06d}", "+44 7{a:03d} {b:06d}")
    return [formats[s].format(a=x, b=y) for x, y, s in zip(a, b, style, strict=True)]


def _bad_phone(rng: np.random.Generator) -> str:
    options = ("n/a", "0712345", "07abc 12345", "unknown", "000", "+44 7700 90O123", "ring reception")
    return options[int(rng.integers(len(options)))]


# --------------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------------
class _Builder:
    def __init__(self, opts: GenerateOptions) -> None:
        self.opts = opts
        self.scale: ScaleSpec = get_scale(opts.scale)
        self.profile: ProfileSpec = get_profile(opts.profile)
        self.catalog: Catalog = load_catalog(self.profile)
        if opts.history_days < 3 * PERIOD_DAYS:
            raise DemoError(f"history_days must be at least {3 * PERIOD_DAYS}; got {opts.history_days}")
        if not 0.0 <= opts.dirt_rate <= 0.2:
            raise DemoError(f"dirt_rate must be between 0 and 0.2; got {opts.dirt_rate}")
        self.end_day = (opts.end_date - EPOCH).days
        self.start_day = self.end_day - opts.history_days + 1
        self.start = self.start_day * DAY
        self.clock = (self.end_day + 1) * DAY - 1  # last second of the end date
        self.seed = opts.seed
        self.dirt: dict[str, int] = {}
        self.timings: dict[str, float] = {}
        if self.profile.name == "services":
            self.cities, self.city_weights = vocab.CITIES_CN, vocab.CITY_WEIGHTS_CN
        else:
            self.cities, self.city_weights = vocab.CITIES_UK, vocab.CITY_WEIGHTS_UK
        self.regions = sorted({r for _, r in self.cities})
        self.services: services.ServicesPlan | None = None  # contracts of a services agency (plan_contracts)

    def rng(self, component: str) -> np.random.Generator:
        return _rng(self.seed, component)

    def dirt_count(self, n: int, factor: float = 1.0) -> int:
        """How many of ``n`` rows get a kind of dirt (at least one when the rate is non-zero)."""
        if self.opts.dirt_rate <= 0 or n == 0:
            return 0
        return max(1, int(round(n * self.opts.dirt_rate * factor)))

    # employees ---------------------------------------------------------------------------------
    def employees(self) -> dict[str, Any]:
        rng = self.rng("employees")
        s = self.scale
        n_mgr = max(2, s.sales_reps // 10)
        roles = np.array(["sales_rep"] * s.sales_reps + ["service_agent"] * s.service_agents + ["manager"] * n_mgr)
        n = len(roles)
        ids = np.arange(1, n + 1)
        names, _ = _people_names(rng, n, self.profile)
        region_idx = np.arange(n) % len(self.regions)
        teams = np.where(roles == "sales_rep", "Sales " + np.array(self.regions)[region_idx],
                         np.where(roles == "service_agent", "Customer Service", "Management"))
        regions = np.where(roles == "service_agent", None, np.array(self.regions, dtype=object)[region_idx])
        hire = self.start_day - rng.integers(30, 3000, size=n)
        created = hire * DAY + 9 * 3600
        updated = created.copy()
        moved = rng.random(n) < 0.1
        updated[moved] = self.start + rng.integers(0, self.clock - self.start, size=int(moved.sum()))
        self.rep_ids = ids[roles == "sales_rep"]
        self.rep_region = region_idx[roles == "sales_rep"]
        self.agent_ids = ids[roles == "service_agent"]
        self.agent_slowness = np.exp(rng.normal(0.0, 0.45, size=len(self.agent_ids)))
        return {
            "employee_id": ids, "employee_code": _fmt_ids("E", ids, 4), "name": pa.array(names),
            "role": _strings(roles), "team": _strings(teams), "region": pa.array(list(regions), pa.string()),
            "hire_date": hire, "created_at": created, "updated_at": updated,
            "is_deleted": np.zeros(n, dtype=bool),
        }

    # customers (attributes and latent traits) -------------------------------------------------
    def customers_latent(self) -> None:
        rng = self.rng("customers")
        n = self.scale.customers
        prof = self.profile
        pre = rng.random(n) < 0.35
        signup_day = np.where(pre, self.start_day - rng.integers(1, 1096, size=n),
                              rng.integers(self.start_day, self.end_day - 13, size=n))
        signup_day.sort()
        self.signup_day = signup_day
        self.signup = signup_day * DAY + rng.integers(8 * 3600, 20 * 3600, size=n)
        seg_names = [x[0] for x in prof.segments]
        self.segment_idx = _choice_idx(rng, [x[1] for x in prof.segments], n)
        self.segment = np.array(seg_names)[self.segment_idx]
        seg_mult = np.array([x[2] for x in prof.segments])[self.segment_idx]
        self.is_business = np.isin(self.segment, prof.business_segments)
        self.city_idx = _choice_idx(rng, self.city_weights, n)
        region_of_city = np.array([self.regions.index(r) for _, r in self.cities])
        self.region_idx = region_of_city[self.city_idx]
        # sales rep from the customer's region
        reps_by_region = [self.rep_ids[self.rep_region == g] for g in range(len(self.regions))]
        counts = np.array([max(len(r), 1) for r in reps_by_region])
        table = np.zeros((len(self.regions), counts.max()), dtype=np.int64)
        for g, reps in enumerate(reps_by_region):
            table[g, : len(reps)] = reps if len(reps) else self.rep_ids[g % len(self.rep_ids)]
        pick = (rng.random(n) * counts[self.region_idx]).astype(np.int64)
        self.sales_rep = table[self.region_idx, pick]
        self.acq_idx = _choice_idx(rng, [x[1] for x in prof.acquisition_channels], n)
        self.pref_channel = _choice_idx(rng, [x[1] for x in prof.order_channels], n)
        # latent traits
        self.rate = rng.gamma(1.3, 1 / 1.3, size=n) * seg_mult
        self.unhappiness = rng.normal(0.0, 1.0, size=n)
        # unhappy customers open more tickets (and more of them are complaints)
        trait = rng.gamma(0.6, 1 / 0.6, size=n) * np.exp(0.6 * self.unhappiness)
        self.ticket_trait = trait / trait.mean()
        self.complaint_logit = -1.4 + 1.2 * self.unhappiness
        has_decline = rng.random(n) < DECLINE_SHARE
        lo = np.maximum(self.signup, self.start)
        onset = lo + rng.random(n) * (self.clock + 120 * DAY - lo)
        self.decline_onset = np.where(has_decline, onset, np.inf)
        self.payer = _choice_idx(rng, [0.72, 0.20, 0.06, 0.02], n)  # on time, late, very late, defaulter
        # recurring monthly services: at most about half of the planned orders are monthly invoices
        months = np.clip(self.clock - np.maximum(self.signup, self.start), 0, None) / (PERIOD_DAYS * DAY)
        capacity = 0.85 * float(months[self.is_business].sum())
        p_sub = min(prof.recurring_share, 0.5 * self.scale.orders / capacity) if capacity > 0 else 0.0
        self.subscriber = (rng.random(n) < p_sub) & self.is_business
        self.bill_day = rng.integers(0, 28, size=n)

    def decline_level(self, t: np.ndarray, idx: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Purchase decline in [0, 1] at time ``t`` (0 before the onset)."""
        since = np.maximum(t - self.decline_onset[idx], 0.0) / (DECLINE_TAU_DAYS * DAY)
        return 1.0 - np.exp(-since)

    # the period loop: tickets and churn --------------------------------------------------------
    def simulate(self) -> None:
        rng = self.rng("simulate")
        n = self.scale.customers
        n_periods = -(-self.opts.history_days // PERIOD_DAYS)
        self.period_bounds = [(self.start + k * PERIOD_DAYS * DAY,
                               min(self.start + (k + 1) * PERIOD_DAYS * DAY, self.clock + 1))
                              for k in range(n_periods)]
        # ticket rate calibrated on the exposure without churn (about 80% of it survives churn)
        exposure = np.clip(self.clock - np.maximum(self.signup, self.start), 0, None) / (PERIOD_DAYS * DAY)
        ticket_rate = self.scale.tickets / max(1.12 * float((exposure * self.ticket_trait).sum()), 1.0)
        churn = np.full(n, np.inf)
        window: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        tickets: dict[str, list[np.ndarray]] = {k: [] for k in (
            "cust", "opened", "complaint", "type", "agent", "frh", "resh", "sat")}
        types = np.array(["inquiry", "request", "follow_up"])
        c = CHURN_COEFFICIENTS
        # after the history, the same process runs on for the planted future (its tickets stay hidden)
        future = churn_future.future_period_bounds(self.clock, PERIOD_DAYS)
        for p_start, p_end in self.period_bounds + future:
            hidden = p_start > self.clock
            ids = np.nonzero((self.signup < p_end) & np.isinf(churn))[0]
            exp_start = np.maximum(self.signup[ids], p_start).astype(np.float64)
            span = p_end - exp_start
            frac = span / (PERIOD_DAYS * DAY)
            comp = np.zeros(n)
            slow = np.zeros(n)
            lows = np.zeros(n)
            for a, b, d in window:
                comp += a
                slow += b
                lows += d
            level = self.decline_level(exp_start, ids)
            lin = (c["complaints"] * np.minimum(comp[ids], DRIVER_CAP)
                   + c["slow_resolutions"] * np.minimum(slow[ids], DRIVER_CAP)
                   + c["low_satisfaction"] * np.minimum(lows[ids], DRIVER_CAP)
                   + c["purchase_decline"] * level)
            hazard = CHURN_BASE_MONTHLY_HAZARD * np.exp(lin) * frac
            churn_now = rng.random(len(ids)) < -np.expm1(-hazard)
            churn_at = exp_start + rng.random(len(ids)) * span
            # tickets opened in this period
            # a customer whose purchases fall off is also one who complains more
            nt = rng.poisson(ticket_rate * self.ticket_trait[ids] * frac * (1.0 + DECLINE_TICKET_BOOST * level))
            t_local = np.repeat(np.arange(len(ids)), nt)
            t_cust = ids[t_local]
            opened = exp_start[t_local] + rng.random(len(t_local)) * span[t_local]
            keep = ~(churn_now[t_local] & (opened >= churn_at[t_local]))
            t_cust, opened = t_cust[keep], opened[keep]
            m = len(t_cust)
            p_complaint = _sigmoid(self.complaint_logit[t_cust] + DECLINE_COMPLAINT_BOOST * level[t_local][keep])
            complaint = rng.random(m) < p_complaint
            ttype = np.where(complaint, "complaint", types[_choice_idx(rng, [0.45, 0.35, 0.20], m)])
            agent = rng.integers(len(self.agent_ids), size=m)
            slowness = self.agent_slowness[agent] * np.exp(0.35 * self.unhappiness[t_cust])
            frh = np.exp(rng.normal(np.log(5.0), 1.0, size=m)) * slowness * np.where(complaint, 1.4, 1.0)
            resh = frh + np.exp(rng.normal(np.log(20.0), 1.0, size=m)) * slowness * np.where(complaint, 2.5, 1.0)
            latent_sat = (4.5 - 0.9 * complaint - 0.55 * np.log1p(resh / 24.0)
                          - 0.25 * self.unhappiness[t_cust] + rng.normal(0.0, 0.6, size=m))
            sat = np.clip(np.rint(latent_sat), 1, 5).astype(np.int64)
            answered = rng.random(m) < 0.55
            sat = np.where(answered, sat, 0)  # 0 = not answered (NULL in the table)
            for key, val in (("cust", t_cust), ("opened", opened), ("complaint", complaint), ("type", ttype),
                             ("agent", agent), ("frh", frh), ("resh", resh), ("sat", sat)):
                if not hidden:
                    tickets[key].append(val)
            churn[ids[churn_now]] = churn_at[churn_now]
            window.append((np.bincount(t_cust, weights=complaint, minlength=n),
                           np.bincount(t_cust, weights=resh > SLOW_RESOLUTION_HOURS, minlength=n),
                           np.bincount(t_cust, weights=answered & (sat <= 2), minlength=n)))
            if len(window) > WINDOW_PERIODS:
                window.pop(0)
        self.churn = churn
        self.t = {k: np.concatenate(v) for k, v in tickets.items()}

    # orders and lines -------------------------------------------------------------------------
    def price_schedule(self) -> None:
        rng = self.rng("prices")
        n = len(self.catalog)
        n_changes = rng.choice(4, size=n, p=[0.35, 0.35, 0.2, 0.1])
        times = np.sort(self.start + rng.random((n, 3)) * (self.clock - self.start), axis=1)
        times = np.where(np.arange(3)[None, :] < n_changes[:, None], times, np.inf)
        times.sort(axis=1)
        steps = rng.uniform(0.92, 1.15, size=(n, 3))
        prices = np.empty((n, 4), dtype=np.int64)
        prices[:, 0] = self.catalog.price_cents
        for j in range(3):
            prices[:, j + 1] = np.maximum(np.rint(prices[:, j] * steps[:, j]), 1)
        prices[~self.catalog.is_merchandise, 1:] = prices[~self.catalog.is_merchandise, :1]
        self.price_times = times
        self.price_table = prices
        self.n_price_changes = np.where(self.catalog.is_merchandise, n_changes, 0)

    def price_at(self, product: np.ndarray, ts: np.ndarray) -> np.ndarray:
        step = (self.price_times[product] <= ts[:, None]).sum(axis=1)
        return self.price_table[product, step]

    def orders(self) -> None:
        rng = self.rng("orders")
        prof = self.profile
        n = self.scale.customers
        cust_parts, ts_parts, rec_parts = [], [], []
        expected = []
        spans = []
        for p_start, p_end in self.period_bounds:
            lo = np.maximum(self.signup, p_start).astype(np.float64)
            hi = np.minimum(np.minimum(self.churn, p_end), self.clock + 1)
            span = np.clip(hi - lo, 0, None)
            mid = lo + span / 2
            mult = 1.0 - 0.9 * self.decline_level(mid)
            expected.append(self.rate * mult * span / (PERIOD_DAYS * DAY))
            spans.append((lo, span))
            if prof.recurring_share > 0:
                bill = p_start + self.bill_day * DAY + 10 * 3600
                ok = self.subscriber & (bill >= self.signup) & (bill < self.churn) & (bill < p_end) & (bill <= self.clock)
                if self.services is not None:  # invoices follow the contracts (renewals, gaps, non-renewals)
                    ok &= self.services.billing_active(bill)
                ids = np.nonzero(ok)[0]
                cust_parts.append(ids)
                ts_parts.append(bill[ids].astype(np.float64))
                rec_parts.append(np.ones(len(ids), dtype=bool))
        n_recurring = int(sum(len(x) for x in rec_parts))
        n_guest = int(round(self.scale.orders * prof.guest_share))
        target = max(self.scale.orders - n_guest - n_recurring, 0)
        total_expected = float(sum(e.sum() for e in expected))
        factor = target / total_expected if total_expected > 0 else 0.0
        for (lo, span), e in zip(spans, expected, strict=True):
            k = rng.poisson(e * factor)
            ids = np.repeat(np.arange(n), k)
            cust_parts.append(ids)
            ts_parts.append(lo[ids] + rng.random(len(ids)) * span[ids])
            rec_parts.append(np.zeros(len(ids), dtype=bool))
        cust_parts.append(np.full(n_guest, -1))
        ts_parts.append(self.start + rng.random(n_guest) * (self.clock - self.start))
        rec_parts.append(np.zeros(n_guest, dtype=bool))
        cust = np.concatenate(cust_parts)
        ts = np.minimum(np.floor(np.concatenate(ts_parts)), self.clock).astype(np.int64)
        rec = np.concatenate(rec_parts)
        order = np.lexsort((cust, ts))
        self.o_cust, self.o_ts, self.o_rec = cust[order], ts[order], rec[order]
        m = len(self.o_cust)
        self.o_id = np.arange(1, m + 1)
        guest = self.o_cust < 0
        chan_names = np.array([c for c, _ in prof.order_channels])
        pref = np.where(guest, 0, self.pref_channel[np.maximum(self.o_cust, 0)])
        random_chan = _choice_idx(rng, [w for _, w in prof.order_channels], m)
        self.o_channel = chan_names[np.where(rng.random(m) < 0.7, pref, random_chan)]
        status = np.full(m, "completed", dtype=object)
        self.o_cancelled = (rng.random(m) < prof.cancel_share) & ~self.o_rec
        status[self.o_cancelled] = "cancelled"
        self.o_status = status
        self.o_updated = self.o_ts.copy()
        cancel_ts = self.o_ts + rng.integers(3600, 48 * 3600, size=m)
        self.o_updated[self.o_cancelled] = np.minimum(cancel_ts[self.o_cancelled], self.clock)
        self.o_guest = guest
        c_idx = np.maximum(self.o_cust, 0)
        rep_on_order = (~guest) & (np.isin(self.o_channel, ["phone", "store"]) | self.is_business[c_idx])
        self.o_rep = np.where(rep_on_order, self.sales_rep[c_idx], NULL_INT)

    def bundles(self) -> list[dict[str, Any]]:
        rng = self.rng("bundles")
        cat = self.catalog
        merch = np.nonzero(cat.is_merchandise & (cat.billing == "one_off"))[0]
        if self.profile.name == "services":
            merch = np.nonzero(cat.is_merchandise & (cat.billing != "monthly"))[0]
        # mid-popularity products, so the bundles are not just the best sellers
        ranked = merch[np.argsort(-cat.popularity[merch], kind="stable")]
        pool = ranked[len(ranked) // 10: max(len(ranked) // 10 + 40, len(ranked) // 2)]
        chosen = rng.choice(pool, size=min(len(pool), 20), replace=False)
        out, pos = [], 0
        for b, share in enumerate(BUNDLE_SHARES):
            size = 2 if b % 2 == 0 else 3
            if pos + size > len(chosen):
                break
            members = chosen[pos: pos + size]
            pos += size
            out.append({"bundle_id": b + 1, "product_idx": members, "share": share})
        return out

    def lines(self) -> None:
        rng = self.rng("lines")
        cat = self.catalog
        prof = self.profile
        m = len(self.o_id)
        regular = ~self.o_rec
        self.bundle_list = self.bundles()
        bundle_lines = sum(len(b["product_idx"]) * b["share"] for b in self.bundle_list)
        postage_p = 0.35 if prof.name == "retail" else 0.10
        non_merch = np.nonzero(~cat.is_merchandise)[0]
        base_mean = max(prof.lines_per_order - bundle_lines - postage_p * 0.5 - 1.0, 0.1)
        k = np.where(regular, 1 + rng.poisson(base_mean, size=m), 0)
        o_idx = [np.repeat(np.arange(m), k)]
        # monthly services are billed by the recurring invoices only
        sellable = cat.is_merchandise & ((cat.billing == "one_off") if prof.name == "retail"
                                         else (cat.billing != "monthly"))
        weights = np.where(sellable, cat.popularity, 0.0)
        p_idx = [self.taste_lines(o_idx[0], _choice_idx(rng, weights, len(o_idx[0])), sellable)]
        self.bundle_orders: list[np.ndarray] = []
        for b in self.bundle_list:
            hit = np.nonzero(regular & (rng.random(m) < b["share"]))[0]
            self.bundle_orders.append(hit)
            for prod in b["product_idx"]:
                o_idx.append(hit)
                p_idx.append(np.full(len(hit), prod))
        if len(non_merch):
            if prof.name == "retail":
                post = np.nonzero(regular & np.isin(self.o_channel, ["web", "marketplace"])
                                  & (rng.random(m) < postage_p))[0]
            else:
                post = np.nonzero(regular & (rng.random(m) < postage_p))[0]
            o_idx.append(post)
            p_idx.append(non_merch[rng.integers(len(non_merch), size=len(post))])
        if prof.recurring_share > 0:
            monthly = np.nonzero(cat.billing == "monthly")[0]
            n = self.scale.customers
            sub1 = monthly[rng.integers(len(monthly), size=n)]
            sub2 = monthly[rng.integers(len(monthly), size=n)]
            two = rng.random(n) < 0.5
            if self.services is not None:  # the contracts decided what each subscriber is billed for
                sub1, sub2, two = self.services.sub1, self.services.sub2, self.services.two
            rec = np.nonzero(self.o_rec)[0]
            rc = self.o_cust[rec]
            o_idx.append(rec)
            p_idx.append(sub1[rc])
            rec2 = rec[two[rc] & (sub2[rc] != sub1[rc])]
            o_idx.append(rec2)
            p_idx.append(sub2[self.o_cust[rec2]])
        seq_o, seq_p = self.sequence_lines(np.concatenate(o_idx), np.concatenate(p_idx), sellable)
        o_idx.append(seq_o)
        p_idx.append(seq_p)
        oi = np.concatenate(o_idx)
        pi = np.concatenate(p_idx)
        # one line per product per order (clean data); keep the first occurrence, in generation order
        key = oi.astype(np.int64) * len(cat) + pi
        first = _first_occurrences(key)
        oi, pi = oi[first], pi[first]
        order = np.argsort(oi, kind="stable")
        oi, pi = oi[order], pi[order]
        n_lines = len(oi)
        line_no = _cumcount(oi) + 1
        ts = self.o_ts[oi]
        cust = self.o_cust[oi]
        business = np.where(cust >= 0, self.is_business[np.maximum(cust, 0)], False)
        vip = np.where(cust >= 0, self.segment[np.maximum(cust, 0)] == "vip", False)
        if prof.name == "retail":
            qty = np.where(business, rng.geometric(0.35, size=n_lines) * rng.choice([1, 1, 2, 6, 12], size=n_lines),
                           rng.geometric(np.where(vip, 0.45, 0.65), size=n_lines))
        else:
            qty = np.where(rng.random(n_lines) < 0.1, rng.integers(2, 4, size=n_lines), 1)
        qty = np.where(cat.is_merchandise[pi], qty, 1).astype(np.int64)
        price = self.price_at(pi, ts)
        if self.services is not None:  # recurring invoices bill the contract's fee
            price = self.services.invoice_prices(self.o_rec[oi], cust, pi, ts, price)
        gross = qty * price
        disc = np.where(rng.random(n_lines) < 0.12, np.rint(gross * rng.uniform(0.05, 0.25, size=n_lines)), 0)
        disc = disc.astype(np.int64)
        amount = gross - disc
        created = ts.copy()
        # returns: a negative copy of the order's first line, some days later
        first_line = np.nonzero(line_no == 1)[0]
        o_first = oi[first_line]
        returned = first_line[(rng.random(len(first_line)) < prof.return_share) & ~self.o_cancelled[o_first]]
        ret_ts = ts[returned] + rng.integers(2 * DAY, 30 * DAY, size=len(returned))
        ok = ret_ts <= self.clock
        returned, ret_ts = returned[ok], ret_ts[ok]
        lines_per_order = np.bincount(oi, minlength=m)
        ro = oi[returned]
        self.o_status[ro] = np.where(lines_per_order[ro] == 1, "returned", "partially_returned")
        self.o_updated[ro] = np.maximum(self.o_updated[ro], ret_ts)
        r = {
            "oi": oi[returned], "pi": pi[returned], "line_no": lines_per_order[ro] + 1,
            "qty": -qty[returned], "price": price[returned], "disc": -disc[returned],
            "amount": -amount[returned], "created": ret_ts,
        }
        oi = np.concatenate([oi, r["oi"]])
        pi = np.concatenate([pi, r["pi"]])
        line_no = np.concatenate([line_no, r["line_no"]])
        qty = np.concatenate([qty, r["qty"]])
        price = np.concatenate([price, r["price"]])
        disc = np.concatenate([disc, r["disc"]])
        amount = np.concatenate([amount, r["amount"]])
        created = np.concatenate([created, r["created"]])
        self.n_return_lines = len(returned)
        # --- planted dirt on lines ---
        n_clean = len(oi)
        code_variant = np.zeros(n_clean, dtype=np.int64)  # 0 clean, 1 trailing space, 2 lower case
        idx = rng.choice(n_clean, size=self.dirt_count(n_clean), replace=False)
        code_variant[idx] = 1
        self.dirt["order_line_code_trailing_space"] = len(idx)
        letters = np.nonzero(np.char.lower(cat.codes) != cat.codes)[0]
        has_letters = np.isin(pi, letters) & (code_variant == 0)
        cand = np.nonzero(has_letters)[0]
        idx = rng.choice(cand, size=min(len(cand), self.dirt_count(n_clean)), replace=False)
        code_variant[idx] = 2
        self.dirt["order_line_code_case_variant"] = len(idx)
        zero = rng.choice(n_clean, size=self.dirt_count(n_clean, 0.1), replace=False)
        qty[zero] = 0
        amount[zero] = 0
        disc[zero] = 0
        self.dirt["order_line_zero_quantity"] = len(zero)
        cand = _without(np.arange(n_clean), zero, n_clean)
        neg = rng.choice(cand, size=self.dirt_count(n_clean, 0.05), replace=False)
        price[neg] = -price[neg]
        amount[neg] = qty[neg] * price[neg] - disc[neg]
        self.dirt["order_line_negative_price"] = len(neg)
        dup = np.sort(rng.choice(n_clean, size=self.dirt_count(n_clean, 0.5), replace=False))
        self.dirt["order_line_duplicates"] = len(dup)
        is_dup = np.r_[np.zeros(n_clean, dtype=bool), np.ones(len(dup), dtype=bool)]
        cols = [oi, pi, line_no, qty, price, disc, amount, created, code_variant]
        oi, pi, line_no, qty, price, disc, amount, created, code_variant = (
            np.concatenate([c, c[dup]]) for c in cols)
        # the order header's total is the sum of its lines as stored (dirty ones included), as the
        # source system computes it: header and lines reconcile; the dirt shows in the lines themselves
        self.o_total = np.rint(np.bincount(oi, weights=amount, minlength=m)).astype(np.int64)
        order = np.lexsort((is_dup, line_no, oi))
        codes = np.concatenate([cat.codes, np.char.add(cat.codes, " "), np.char.lower(cat.codes)])
        created = created[order]
        self.l = {
            "order_line_id": np.arange(1, len(order) + 1),
            "order_id": self.o_id[oi[order]],
            "line_number": line_no[order],
            "product_code": _take(codes, pi[order] + code_variant[order] * len(cat)),
            "quantity": qty[order], "unit_price": price[order], "discount": disc[order],
            "line_amount": amount[order], "created_at": created, "updated_at": created,
            "is_deleted": np.zeros(len(order), dtype=bool),
        }
        self.line_product_idx = pi[order]
        self.line_is_dup = is_dup[order]
        self.line_is_return = qty[order] < 0

    # planted taste and next-purchase sequences (warehouse.demo.taste) -------------------------
    def taste_lines(self, order_of_line: np.ndarray, products: np.ndarray, sellable: np.ndarray) -> np.ndarray:
        """Ordinary lines of customers' orders re-drawn from each customer's slowly drifting taste."""
        rng = self.rng("taste")
        cats, weight = taste.taste_categories(self.catalog, sellable)
        self.tastes = taste.draw_tastes(rng, self.scale.customers, cats, weight)
        cust = self.o_cust[order_of_line]
        c = np.maximum(cust, 0)
        lo = np.maximum(self.signup[c], self.start).astype(np.float64)
        drift = np.clip((self.o_ts[order_of_line] - lo) / np.maximum(self.clock - lo, 1.0), 0.0, 1.0)
        samplers = taste.category_samplers(self.catalog, sellable, cats)
        out, self.taste_line_count = taste.taste_products(rng, self.tastes, samplers, cust, drift, products,
                                                          order_of_line)
        return out

    def sequence_lines(self, oi: np.ndarray, pi: np.ndarray, sellable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lines that make the planted next purchases (B on the order after one holding A)."""
        rng = self.rng("sequences")
        bundled = {int(i) for b in self.bundle_list for i in b["product_idx"]}
        self.sequence_list = taste.choose_sequences(rng, self.catalog, self.profile.name, sellable, bundled)
        eligible = ~self.o_rec & ~self.o_cancelled
        return taste.plant_sequences(rng, self.sequence_list, oi, pi, self.o_cust, self.o_ts, eligible)

    def payments(self) -> dict[str, Any]:
        rng = self.rng("payments")
        prof = self.profile
        idx = np.nonzero(~self.o_cancelled & (self.o_total > 0))[0]
        n = len(idx)
        cust = self.o_cust[idx]
        c = np.maximum(cust, 0)
        invoiced = (cust >= 0) & (self.is_business[c] | (prof.name == "services"))
        order_day = _day_of(self.o_ts[idx])
        due = np.where(invoiced, order_day + prof.invoice_terms_days, order_day)
        payer = np.where(cust >= 0, self.payer[c], 0)
        due_ts = due * DAY + 17 * 3600
        lateness = np.select(
            [payer == 0, payer == 1, payer == 2],
            [-rng.integers(0, prof.invoice_terms_days * DAY, size=n),
             rng.integers(1 * DAY, 30 * DAY, size=n), rng.integers(31 * DAY, 120 * DAY, size=n)],
            default=10**12)
        paid = np.where(invoiced, np.maximum(due_ts + lateness, self.o_ts[idx] + 3600),
                        self.o_ts[idx] + rng.integers(0, 600, size=n))
        paid = np.where(paid <= self.clock, paid, NULL_TS)
        methods = np.array(prof.payment_methods)
        method = np.where(invoiced, "transfer", methods[rng.integers(len(methods), size=n)])
        updated = np.where(paid == NULL_TS, self.o_ts[idx], paid)
        self.late_payments = int(((paid != NULL_TS) & (paid > due_ts)).sum() + ((paid == NULL_TS) & (due_ts < self.clock)).sum())
        return {
            "payment_id": np.arange(1, n + 1), "order_id": self.o_id[idx],
            "customer_id": np.where(cust >= 0, cust + 1, NULL_INT), "due_date": due, "paid_at": paid,
            "amount": self.o_total[idx], "method": _strings(method),
            "contract_id": (self.services.payment_contracts(idx) if self.services is not None
                            else np.full(n, NULL_INT)),
            "created_at": self.o_ts[idx], "updated_at": updated, "is_deleted": np.zeros(n, dtype=bool),
        }

    def tickets(self) -> dict[str, Any]:
        rng = self.rng("tickets")
        t = self.t
        order = np.lexsort((t["cust"], t["opened"]))
        cust = t["cust"][order]
        opened = np.floor(t["opened"][order]).astype(np.int64)
        ttype = t["type"][order]
        complaint = t["complaint"][order]
        agent = self.agent_ids[t["agent"][order]]
        first = opened + np.rint(t["frh"][order] * 3600).astype(np.int64) + 60
        resolved = opened + np.rint(t["resh"][order] * 3600).astype(np.int64) + 120
        sat = t["sat"][order]
        n = len(cust)
        status = np.where(first > self.clock, "open", np.where(resolved > self.clock, "in_progress", "resolved"))
        closed = (status == "resolved") & (resolved < self.clock - 7 * DAY) & (rng.random(n) < 0.7)
        status = np.where(closed, "closed", status)
        first = np.where(first > self.clock, NULL_TS, first)
        done = np.isin(status, ["resolved", "closed"])
        resolved = np.where(done, resolved, NULL_TS)
        survey_ts = resolved + rng.integers(3600, 2 * DAY, size=n)
        answered = done & (sat > 0) & (survey_ts <= self.clock)
        sat = np.where(answered, sat, NULL_INT)
        updated = np.maximum.reduce([opened, first, resolved, np.where(answered, survey_ts, NULL_TS)])
        # link complaints and most requests to the customer's latest order before the ticket
        link = (complaint | ((ttype == "request") & (rng.random(n) < 0.7)))
        o_order = np.lexsort((self.o_ts, self.o_cust))
        span = int(self.clock - self.start + 4000 * DAY)
        o_key = self.o_cust[o_order].astype(np.int64) * span + (self.o_ts[o_order] - self.start + 3000 * DAY)
        t_key = cust.astype(np.int64) * span + (opened - self.start + 3000 * DAY)
        pos = np.searchsorted(o_key, t_key, side="right") - 1
        valid = (pos >= 0) & link
        pos = np.maximum(pos, 0)
        valid &= self.o_cust[o_order][pos] == cust
        order_id = np.where(valid, self.o_id[o_order][pos], NULL_INT)
        prio_c = np.array(["normal", "high", "urgent"])[_choice_idx(rng, [0.4, 0.4, 0.2], n)]
        prio_o = np.array(["low", "normal", "high"])[_choice_idx(rng, [0.3, 0.6, 0.1], n)]
        priority = np.where(complaint, prio_c, prio_o)
        subjects = np.empty(n, dtype=object)
        for kind, options in vocab.TICKET_SUBJECTS.items():
            mask = ttype == kind
            subjects[mask] = np.array(options, dtype=object)[rng.integers(len(options), size=int(mask.sum()))]
        chan = np.array([c for c, _ in self.profile.ticket_channels])[
            _choice_idx(rng, [w for _, w in self.profile.ticket_channels], n)]
        # truth before dirt: used by the ground truth and tests
        self.ticket_cust = cust
        self.ticket_complaint = complaint
        self.ticket_resolution_h = np.where(resolved != NULL_TS, (resolved - opened) / 3600.0, np.nan)
        self.ticket_sat = sat.copy()
        self.ticket_resolved = resolved.copy()
        # dirt: impossible satisfaction scores and tickets resolved before they were opened
        ans = np.nonzero(answered)[0]
        bad = rng.choice(ans, size=min(len(ans), self.dirt_count(len(ans), 0.5)), replace=False)
        sat[bad] = np.where(rng.random(len(bad)) < 0.5, 0, 9)
        self.dirt["ticket_satisfaction_out_of_range"] = len(bad)
        res = _without(np.nonzero(done)[0], bad, n)
        bad2 = rng.choice(res, size=min(len(res), self.dirt_count(len(res), 0.2)), replace=False)
        resolved[bad2] = opened[bad2] - rng.integers(3600, 2 * DAY, size=len(bad2))
        self.dirt["ticket_resolved_before_opened"] = len(bad2)
        self.ticket_agent, self.ticket_opened, self.ticket_status = agent, opened, status
        ids = np.arange(1, n + 1)
        return {
            "ticket_id": ids, "ticket_number": _fmt_ids("TK", ids, 8), "customer_id": cust + 1,
            "order_id": order_id, "agent_id": agent, "ticket_type": _strings(ttype),
            "channel": _strings(chan), "priority": _strings(priority), "subject": pa.array(subjects.tolist()),
            "opened_at": opened, "first_response_at": first, "resolved_at": resolved,
            "status": _strings(status), "satisfaction": sat, "created_at": opened, "updated_at": updated,
            "is_deleted": np.zeros(n, dtype=bool),
        }

    def interactions(self) -> dict[str, Any]:
        rng = self.rng("interactions")
        prof = self.profile
        target = self.scale.interactions
        # follow-up calls after resolved tickets
        res = np.nonzero(self.ticket_resolved != NULL_TS)[0]
        fu = res[rng.random(len(res)) < 0.3]
        fu_ts = self.ticket_resolved[fu] + rng.integers(3600, 72 * 3600, size=len(fu))
        ok = fu_ts <= self.clock
        fu, fu_ts = fu[ok], fu_ts[ok]
        n_care = int(target * 0.15)
        n_sales = max(target - len(fu) - n_care, 0)
        n = self.scale.customers
        lo = np.maximum(self.signup, self.start).astype(np.float64)
        hi_alive = np.minimum(self.churn, self.clock).astype(np.float64)
        alive_span = np.clip(hi_alive - lo, 0, None)
        weight = alive_span * np.where(self.is_business, 3.0, 1.0)
        sc = _choice_idx(rng, weight, n_sales) if weight.sum() > 0 else np.zeros(0, dtype=np.int64)
        s_ts = lo[sc] + rng.random(len(sc)) * alive_span[sc]
        s_type = np.where(self.is_business[sc], np.array(["call", "email", "meeting"])[
            _choice_idx(rng, [0.45, 0.35, 0.2], len(sc))], np.array(["call", "email"])[
            _choice_idx(rng, [0.4, 0.6], len(sc))])
        cc = rng.integers(0, n, size=n_care)
        c_lo = lo[cc]
        c_ts = c_lo + rng.random(n_care) * np.clip(self.clock - c_lo, 0, None)
        cust = np.concatenate([self.ticket_cust[fu], sc, cc])
        ts = np.floor(np.concatenate([fu_ts, s_ts, c_ts])).astype(np.int64)
        itype = np.concatenate([np.full(len(fu), "follow_up_call", dtype=object), s_type.astype(object),
                                np.full(n_care, "care_message", dtype=object)])
        emp = np.concatenate([self.ticket_agent[fu], self.sales_rep[sc], np.full(n_care, NULL_INT)])
        care_channel = "wechat" if prof.name == "services" else "email"
        channel_of = {"follow_up_call": "phone", "call": "phone", "email": "email", "meeting": "visit",
                      "care_message": care_channel}
        order = np.lexsort((cust, ts))
        cust, ts, itype, emp = cust[order], ts[order], itype[order], emp[order]
        m = len(cust)
        outcome = np.empty(m, dtype=object)
        notes = np.empty(m, dtype=object)
        for kind, options in vocab.INTERACTION_OUTCOMES.items():
            mask = itype == kind
            k = int(mask.sum())
            outcome[mask] = np.array(options, dtype=object)[rng.integers(len(options), size=k)]
            texts = vocab.INTERACTION_NOTES[kind]
            notes[mask] = np.array(texts, dtype=object)[rng.integers(len(texts), size=k)]
        channel = np.array([channel_of[x] for x in itype.tolist()], dtype=object)
        deleted = rng.random(m) < 0.002
        updated = ts.copy()
        updated[deleted] = np.minimum(ts[deleted] + rng.integers(DAY, 60 * DAY, size=int(deleted.sum())),
                                      self.clock)
        ids = np.arange(1, m + 1)
        return {
            "interaction_id": ids, "customer_id": cust + 1, "employee_id": emp,
            "interaction_type": pa.array(itype.tolist(), pa.string()), "channel": pa.array(channel.tolist()),
            "occurred_at": ts, "outcome": pa.array(outcome.tolist()), "notes": pa.array(notes.tolist()),
            "created_at": ts, "updated_at": updated, "is_deleted": deleted,
        }

    def customers(self) -> dict[str, Any]:
        rng = self.rng("customer_attributes")
        n = self.scale.customers
        prof = self.profile
        ids = np.arange(1, n + 1)
        city_names = [self.cities[i][0] for i in self.city_idx]
        person_names, person_local = _people_names(rng, n, prof)
        company_names, company_local = _company_names(rng, n, prof, city_names)
        is_company = self.is_business
        names = [c if b else p for p, c, b in zip(person_names, company_names, is_company.tolist(), strict=True)]
        local = [c if b else p for p, c, b in zip(person_local, company_local, is_company.tolist(), strict=True)]
        domains = vocab.EMAIL_DOMAINS_ZH if prof.name == "services" else vocab.EMAIL_DOMAINS_EN
        dom = rng.integers(len(domains), size=n)
        num = rng.integers(1, 999, size=n)
        emails: list[str | None] = [f"{x}{k}@{domains[d]}" for x, k, d in zip(local, num, dom, strict=True)]
        phones: list[str | None] = list(_phones(rng, n, prof))
        # attribute changes and churn-driven status
        created = self.signup.copy()
        updated = created.copy()
        changed = rng.random(n) < 0.15
        change_ts = self.signup + (rng.random(n) * (self.clock - self.signup)).astype(np.int64)
        updated = np.where(changed, np.maximum(updated, change_ts), updated)
        status = np.full(n, "active", dtype=object)
        churned = np.isfinite(self.churn)
        lapse = np.where(churned, self.churn, 0) + rng.integers(60 * DAY, 120 * DAY, size=n)
        marked = churned & (lapse <= self.clock)
        status[marked] = np.where(rng.random(int(marked.sum())) < 0.65, "dormant", "closed")
        updated = np.where(marked, np.maximum(updated, lapse), updated)
        deleted = rng.random(n) < 0.003
        del_ts = np.minimum(updated + rng.integers(DAY, 30 * DAY, size=n), self.clock)
        updated = np.where(deleted, np.maximum(updated, del_ts), updated)
        # dirt: names with stray spaces or case changes, missing emails, badly formatted phones
        k = self.dirt_count(n)
        sp = rng.choice(n, size=k, replace=False)
        for i in sp.tolist():
            names[i] = names[i] + "  "
        self.dirt["customer_name_trailing_space"] = len(sp)
        rest = _without(np.arange(n), sp, n)
        cs = rng.choice(rest, size=min(len(rest), k), replace=False)
        for i in cs.tolist():
            names[i] = names[i].upper() if prof.name == "retail" else " " + names[i]
        self.dirt["customer_name_case_variant" if prof.name == "retail" else "customer_name_leading_space"] = len(cs)
        me = rng.choice(n, size=self.dirt_count(n, 3.0), replace=False)
        for i in me.tolist():
            emails[i] = None
        self.dirt["customer_missing_email"] = len(me)
        bp = rng.choice(n, size=self.dirt_count(n), replace=False)
        for i in bp.tolist():
            phones[i] = _bad_phone(rng)
        self.dirt["customer_bad_phone"] = len(bp)
        seg = np.array([s for s, _, _ in prof.segments])[self.segment_idx]
        acq = np.array([a for a, _ in prof.acquisition_channels])[self.acq_idx]
        region_names = np.array(self.regions)[self.region_idx]
        self.customer_status = status
        return {
            "customer_id": ids, "customer_code": _fmt_ids("C", ids, 6), "name": pa.array(names),
            "email": pa.array(emails, pa.string()), "phone": pa.array(phones, pa.string()),
            "city": pa.array(city_names), "region": _strings(region_names), "segment": _strings(seg),
            "acquisition_channel": _strings(acq), "status": pa.array(status.tolist(), pa.string()),
            "sales_rep_id": self.sales_rep, "signup_date": self.signup_day, "created_at": created,
            "updated_at": updated, "is_deleted": deleted,
        }

    def products(self) -> dict[str, Any]:
        rng = self.rng("product_rows")
        cat = self.catalog
        n = len(cat)
        ids = np.arange(1, n + 1)
        created = (self.start_day - rng.integers(100, 900, size=n)) * DAY + 9 * 3600
        last_change = np.where(self.n_price_changes > 0,
                               self.price_times[ids - 1, np.maximum(self.n_price_changes - 1, 0)], -np.inf)
        updated = np.maximum(created, np.where(np.isfinite(last_change), last_change, 0)).astype(np.int64)
        current = self.price_table[np.arange(n), self.n_price_changes]
        names = cat.names.tolist()
        k = self.dirt_count(n)
        idx = rng.choice(n, size=min(n, 2 * k), replace=False)
        for j, i in enumerate(idx.tolist()):
            names[i] = names[i] + " " if j % 2 == 0 else names[i].title()
        self.dirt["product_name_space_or_case_variant"] = len(idx)
        return {
            "product_id": ids, "product_code": _strings(cat.codes), "name": pa.array(names),
            "name_en": pa.array([x or None for x in cat.names_en.tolist()], pa.string()),
            "category": _strings(cat.categories), "unit_price": current,
            "is_merchandise": cat.is_merchandise, "created_at": created, "updated_at": updated,
            "is_deleted": np.zeros(n, dtype=bool),
        }

    def orders_table(self) -> dict[str, Any]:
        m = len(self.o_id)
        return {
            "order_id": self.o_id, "order_number": _fmt_ids("SO", self.o_id, 8),
            "customer_id": np.where(self.o_cust >= 0, self.o_cust + 1, NULL_INT), "order_ts": self.o_ts,
            "channel": _strings(self.o_channel), "sales_rep_id": self.o_rep,
            "status": pa.array(self.o_status.tolist(), pa.string()), "order_total": self.o_total,
            "currency": pa.array([self.profile.currency] * m, pa.string()), "created_at": self.o_ts,
            "updated_at": self.o_updated, "is_deleted": np.zeros(m, dtype=bool),
        }

    # ground truth -----------------------------------------------------------------------------
    def ground_truth(self, tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
        cat = self.catalog
        n = self.scale.customers
        codes = [f"C{i:06d}" for i in range(1, n + 1)]
        churn_dates = {c: (None if not np.isfinite(t) else
                           (EPOCH + dt.timedelta(days=int(t // DAY))).isoformat())
                       for c, t in zip(codes, self.churn.tolist(), strict=True)}
        n_orders = len(self.o_id)
        bundles = []
        for b, hit in zip(self.bundle_list, self.bundle_orders, strict=True):
            bundles.append({
                "bundle_id": b["bundle_id"],
                "product_codes": [str(cat.codes[i]) for i in b["product_idx"]],
                "product_names": [str(cat.names[i]) for i in b["product_idx"]],
                "share_of_baskets": b["share"],
                "orders_with_bundle": len(hit),
                "realized_share": round(len(hit) / max(n_orders, 1), 5),
            })
        counts = {name: len(next(iter(cols.values()))) for name, cols in tables.items()}
        return {
            "generator_version": GENERATOR_VERSION,
            "profile": self.profile.name, "scale": self.scale.name, "seed": self.seed,
            "start_date": (EPOCH + dt.timedelta(days=self.start_day)).isoformat(),
            "end_date": self.opts.end_date.isoformat(),
            "row_counts": counts,
            "bundles": bundles,
            "churn": {
                "process": "per 30-day period: hazard = base * exp(sum(coef * driver)); drivers counted "
                           "over the previous window_periods periods and capped at driver_cap; purchase_decline in [0, 1]",
                "base_monthly_hazard": CHURN_BASE_MONTHLY_HAZARD,
                "coefficients": CHURN_COEFFICIENTS,
                "slow_resolution_hours": SLOW_RESOLUTION_HOURS,
                "window_periods": WINDOW_PERIODS, "period_days": PERIOD_DAYS, "driver_cap": DRIVER_CAP,
                "decline_share": DECLINE_SHARE, "decline_tau_days": DECLINE_TAU_DAYS,
                "decline_ticket_boost": DECLINE_TICKET_BOOST, "decline_complaint_boost": DECLINE_COMPLAINT_BOOST,
                "churned_customers": int(np.isfinite(self.churn).sum()),
                **churn_future.future_summary(self.churn, self.clock),
                "churn_date_by_customer": churn_dates,
            },
            "dirt": {
                "rate": self.opts.dirt_rate,
                "counts": dict(self.dirt),
                "notes": "order_total is the sum of the order's lines as stored, dirty lines included "
                         "(duplicated lines, zero quantities, negative prices), so headers and lines "
                         "reconcile; duplicated lines repeat (order_id, line_number) with a new order_line_id",
            },
            "late_payments": self.late_payments,
            "return_lines": self.n_return_lines,
            "taste": taste.taste_truth(self.tastes, codes, self.taste_line_count),
            "sequences": taste.sequences_truth(self.sequence_list, cat),
        }

    def build(self) -> Dataset:
        stamps: dict[str, float] = {}
        t0 = time.perf_counter()

        def mark(name: str) -> None:
            nonlocal t0
            now = time.perf_counter()
            stamps[name] = round(now - t0, 3)
            t0 = now

        employees = self.employees()
        self.customers_latent()
        mark("customers_latent")
        self.simulate()
        mark("simulate")
        self.price_schedule()
        self.services = services.plan_contracts(self)
        self.orders()
        mark("orders")
        self.lines()
        mark("lines")
        payments = self.payments()
        tickets = self.tickets()
        mark("payments_tickets")
        interactions = self.interactions()
        customers = self.customers()
        products = self.products()
        orders = self.orders_table()
        mark("customers_products_interactions")
        tables = {
            "employees": employees, "customers": customers, "products": products, "orders": orders,
            "order_lines": self.l, "payments": payments, "service_tickets": tickets,
            "interactions": interactions,
        }
        service_tables, services_truth = services.build_tables(self, self.services)
        tables.update(service_tables)
        mark("services")
        truth = self.ground_truth(tables)
        if services_truth is not None:
            truth["services"] = services_truth
        self.timings = stamps
        state = DemoState(
            profile=self.profile.name, scale=self.scale.name, seed=self.seed,
            start_date=EPOCH + dt.timedelta(days=self.start_day), end_date=self.opts.end_date,
            business_clock=dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(self.clock)),
            advance_count=0, dirt_rate=self.opts.dirt_rate, generator_version=GENERATOR_VERSION,
        )
        return Dataset(tables=tables, ground_truth=truth, state=state)


def build_dataset(opts: GenerateOptions) -> Dataset:
    """Generate every table in memory (no database involved)."""
    return _Builder(opts).build()


def source_exists(url: str) -> bool:
    """True when the database at ``url`` already holds any CRM or demo table."""
    sa_url = sa.engine.make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        path = sa_url.database
        if not path or path == ":memory:" or not Path(path).exists():
            return False
    engine = sa.create_engine(url)
    try:
        names = set(sa.inspect(engine).get_table_names())
    except sa.exc.OperationalError as exc:
        raise DemoError(f"cannot open the source database {sa_url.render_as_string(hide_password=True)}: "
                        f"{str(exc).splitlines()[0]}") from exc
    finally:
        engine.dispose()
    return bool(names & (set(schema.SOURCE_TABLES) | {"demo_state"}))


def _drop_everything(writer: BulkWriter) -> None:
    path = writer.database_path()
    if path is not None:
        writer.engine.dispose()
        for suffix in ("", "-wal", "-shm", "-journal"):
            candidate = Path(str(path) + suffix)
            if candidate.exists():
                candidate.unlink()
        return
    state_metadata.drop_all(writer.engine)
    schema.metadata.drop_all(writer.engine)


def write_dataset(dataset: Dataset, url: str, ground_truth_path: Path | None, *,
                  use_adbc: bool = True) -> dict[str, int]:
    """Create the tables and bulk-load every generated column; write the ground truth file."""
    writer = BulkWriter(url, use_adbc=use_adbc)
    safe_url = writer.sa_url.render_as_string(hide_password=True)
    try:
        path = writer.database_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            schema.metadata.create_all(writer.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise DemoError(f"cannot create the source tables at {safe_url}: "
                            f"{str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}") from exc
        counts = {}
        for name in schema.SOURCE_TABLES:
            counts[name] = writer.append(schema.metadata.tables[name], dataset.tables[name])
        writer.reset_sequences([schema.metadata.tables[n] for n in schema.SOURCE_TABLES])
        write_state(writer.engine, dataset.state)
    finally:
        writer.dispose()
    if ground_truth_path is not None:
        ground_truth_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = ground_truth_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(dataset.ground_truth, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(ground_truth_path)
    return counts


def generate(url: str, ground_truth_path: Path | None, opts: GenerateOptions, *,
             force: bool = False) -> GenerationResult:
    """Generate the demo source at ``url``; refuses to overwrite an existing source unless ``force``."""
    started = time.perf_counter()
    safe_url = sa.engine.make_url(url).render_as_string(hide_password=True)
    if source_exists(url):
        if not force:
            raise DemoError(f"a source already exists at {safe_url}; use --force to replace it")
        writer = BulkWriter(url)
        try:
            _drop_everything(writer)
        finally:
            writer.dispose()
    builder = _Builder(opts)
    dataset = builder.build()
    t_write = time.perf_counter()
    counts = write_dataset(dataset, url, ground_truth_path)
    timings = {**builder.timings, "write": round(time.perf_counter() - t_write, 3)}
    return GenerationResult(url=safe_url, ground_truth_path=ground_truth_path or Path(),
                            counts=counts, seconds=time.perf_counter() - started, state=dataset.state,
                            timings=timings)


def options_from_settings(settings: Any, **overrides: Any) -> GenerateOptions:
    """Options from ``settings.demo`` with explicit (non-None) overrides."""
    from warehouse.demo.config import parse_date

    demo = settings.demo
    values = {
        "scale": demo.scale, "seed": demo.seed, "profile": demo.profile,
        "end_date": parse_date(demo.end_date), "history_days": demo.history_days,
        "dirt_rate": demo.dirt_rate,
    }
    for key, value in overrides.items():
        if value is not None:
            values[key] = parse_date(value) if key == "end_date" and isinstance(value, str) else value
    return GenerateOptions(**values)

