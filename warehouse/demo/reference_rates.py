"""Exchange rates for a demo whose source currency is not the reporting currency.

The services demo bills in CNY; the warehouse reports money in ``settings.currency.reporting_currency``
(GBP unless configured) and quarantines a line whose currency has no declared rate. So generating such a
demo also declares a rate in ``<data dir>/reference/fx_rates.csv`` (the default rates file), unless a rates
file is already there: the demo loads out of the box, and a user who sets ``reporting_currency = "CNY"``
or brings their own rates file keeps their choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from warehouse.demo.config import get_profile

if TYPE_CHECKING:
    from warehouse.foundation.settings import Settings

# Reporting-currency units per unit of the demo's currency: an illustrative 2025 level (about 9.6 CNY to
# the pound), good enough for a demo, not for accounting.
DEMO_RATES: dict[tuple[str, str], str] = {("CNY", "GBP"): "0.104", ("GBP", "CNY"): "9.6"}


def declare_demo_rates(settings: Settings, profile: str) -> Path | None:
    """Write the rates file for the demo ``profile``'s currency when it needs one and none exists; the path
    written, or None."""
    currency = get_profile(profile).currency
    reporting = settings.currency.reporting_currency
    if currency == reporting:
        return None
    path: Path = settings.rates_path
    if path.exists():
        return None
    rate = DEMO_RATES.get((currency, reporting))
    if rate is None:
        return None  # the lines quarantine with "no exchange rate for ...": the reason says what to declare
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"currency,rate\n{currency},{rate}\n", encoding="utf-8")
    return path
