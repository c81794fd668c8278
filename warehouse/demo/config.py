"""Scales, business profiles and catalogs of the demo CRM generator (declared once, read everywhere)."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from warehouse.foundation.errors import CrmwhError

CATALOG_DIR = Path(__file__).resolve().parent / "catalogs"
DAY = 86_400
EPOCH = dt.date(1970, 1, 1)


class DemoError(CrmwhError):
    """The demo source cannot be generated or advanced as asked."""


@dataclass(frozen=True)
class ScaleSpec:
    """Target sizes of one scale (retail profile; services has fewer lines per order)."""

    name: str
    customers: int
    orders: int
    tickets: int
    interactions: int
    sales_reps: int
    service_agents: int


SCALES: dict[str, ScaleSpec] = {
    "small": ScaleSpec("small", 2_000, 4_000, 3_000, 4_000, 12, 8),
    "medium": ScaleSpec("medium", 20_000, 100_000, 30_000, 40_000, 40, 25),
    "large": ScaleSpec("large", 200_000, 1_000_000, 300_000, 400_000, 150, 100),
}


@dataclass(frozen=True)
class ProfileSpec:
    """How one kind of business sells and serves."""

    name: str
    catalog: str
    currency: str
    lines_per_order: float  # mean lines of an ordinary (non-recurring) order, bundles included
    guest_share: float  # share of orders without a customer
    cancel_share: float
    return_share: float
    order_channels: tuple[tuple[str, float], ...]
    segments: tuple[tuple[str, float, float], ...]  # (segment, share, purchase-rate multiplier)
    business_segments: tuple[str, ...]  # segments that buy on invoice with payment terms
    acquisition_channels: tuple[tuple[str, float], ...]
    payment_methods: tuple[str, ...]
    invoice_terms_days: int
    recurring_share: float  # share of customers on a monthly recurring service (services profile)
    ticket_channels: tuple[tuple[str, float], ...]


PROFILES: dict[str, ProfileSpec] = {
    "retail": ProfileSpec(
        name="retail", catalog="retail.csv", currency="GBP", lines_per_order=5.0, guest_share=0.05,
        cancel_share=0.025, return_share=0.03,
        order_channels=(("web", 0.45), ("store", 0.25), ("phone", 0.08), ("marketplace", 0.17),
                        ("wechat", 0.05)),
        segments=(("consumer", 0.70, 1.0), ("small_business", 0.17, 2.2), ("corporate", 0.06, 3.0),
                  ("vip", 0.07, 3.5)),
        business_segments=("small_business", "corporate"),
        acquisition_channels=(("web", 0.35), ("store", 0.2), ("referral", 0.15), ("campaign", 0.2),
                              ("marketplace", 0.1)),
        payment_methods=("card", "card", "card", "paypal", "cash"),
        invoice_terms_days=30, recurring_share=0.0,
        ticket_channels=(("phone", 0.3), ("web", 0.25), ("email", 0.3), ("wechat", 0.05), ("visit", 0.1)),
    ),
    "services": ProfileSpec(
        name="services", catalog="services.csv", currency="CNY", lines_per_order=1.8, guest_share=0.01,
        cancel_share=0.03, return_share=0.01,
        order_channels=(("web", 0.25), ("phone", 0.25), ("wechat", 0.4), ("store", 0.1)),
        segments=(("small_business", 0.55, 1.0), ("startup", 0.2, 1.3), ("corporate", 0.15, 1.8),
                  ("individual", 0.10, 0.6)),
        business_segments=("small_business", "startup", "corporate"),
        acquisition_channels=(("referral", 0.35), ("web", 0.25), ("campaign", 0.15), ("partner", 0.15),
                              ("event", 0.1)),
        payment_methods=("transfer", "transfer", "wechat_pay", "alipay"),
        invoice_terms_days=15, recurring_share=0.55,
        ticket_channels=(("phone", 0.3), ("web", 0.1), ("email", 0.1), ("wechat", 0.45), ("visit", 0.05)),
    ),
}


@dataclass(frozen=True)
class Catalog:
    """A product catalog loaded from its CSV file."""

    codes: np.ndarray  # str
    names: np.ndarray
    names_en: np.ndarray
    categories: np.ndarray
    price_cents: np.ndarray  # int64
    is_merchandise: np.ndarray  # bool
    billing: np.ndarray  # one_off | monthly | annual
    popularity: np.ndarray  # float

    def __len__(self) -> int:
        return len(self.codes)


def load_catalog(profile: ProfileSpec) -> Catalog:
    path = CATALOG_DIR / profile.catalog
    if not path.is_file():
        raise DemoError(f"catalog file {path} is missing; run warehouse/demo/catalogs/build_catalogs.py")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise DemoError(f"catalog file {path} has no products")
    try:
        return Catalog(
            codes=np.array([r["product_code"] for r in rows]),
            names=np.array([r["name"] for r in rows]),
            names_en=np.array([r["name_en"] for r in rows]),
            categories=np.array([r["category"] for r in rows]),
            price_cents=np.array([round(float(r["unit_price"]) * 100) for r in rows], dtype=np.int64),
            is_merchandise=np.array([r["is_merchandise"] == "true" for r in rows]),
            billing=np.array([r["billing"] for r in rows]),
            popularity=np.array([float(r["popularity"]) for r in rows]),
        )
    except (KeyError, ValueError) as exc:
        raise DemoError(f"catalog file {path} is malformed: {exc}") from exc


def get_scale(name: str) -> ScaleSpec:
    if name not in SCALES:
        raise DemoError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}")
    return SCALES[name]


def get_profile(name: str) -> ProfileSpec:
    if name not in PROFILES:
        raise DemoError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return PROFILES[name]


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError as exc:
        raise DemoError(f"invalid date {text!r}; expected YYYY-MM-DD") from exc


def planned_counts(scale: str, profile: str) -> dict[str, int]:
    """The sizes a scale aims for (cheap: no generation). Realized counts land within a few percent."""
    spec = get_scale(scale)
    prof = get_profile(profile)
    return {
        "customers": spec.customers,
        "orders": spec.orders,
        "order_lines": int(round(spec.orders * prof.lines_per_order)),
        "service_tickets": spec.tickets,
        "interactions": spec.interactions,
        "employees": spec.sales_reps + spec.service_agents + max(2, spec.sales_reps // 10),
    }
