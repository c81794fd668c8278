"""How a file writes its dates and numbers, decided from its values: once per file, never line by line.

Used when a file is extracted (the date order of numeric dates such as ``03/04/2024``) and by
``crmwh profile infer`` (delimiter, decimal separator, date order and timestamp formats).

Date order: a numeric date whose first field is above 12 can only be day-first (``13/01/2024``), one
whose second field is above 12 only month-first (``01/13/2024``); others are ambiguous. A profile either
declares the order (``date_order = "dmy"`` / ``"mdy"``) or leaves it to the file (``"auto"``): the order
with the evidence, else the order of the profile's first numeric format. Lines that contradict the
order decided are quarantined by validation (rule ``order_ts_matches_date_order``), never re-read the
other way round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from warehouse.ingest.profiles import SourceProfile, format_date_order

NUMERIC_DATE = r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})\b"
ORDER_NAMES = {"dmy": "day first (day/month/year)", "mdy": "month first (month/day/year)"}


@dataclass(frozen=True)
class DateOrderDecision:
    order: str  # dmy | mdy | none (no numeric dates the profile reads)
    day_first: int  # lines that can only be day-first
    month_first: int  # lines that can only be month-first
    note: str | None = None

    @property
    def contradicting(self) -> int:
        return self.month_first if self.order == "dmy" else self.day_first if self.order == "mdy" else 0


def date_evidence(values: pl.Series) -> tuple[int, int, int]:
    """(numeric dates, only day-first, only month-first) among text values."""
    parts = pl.DataFrame({"v": values.cast(pl.Utf8)}).select(
        pl.col("v").str.extract(NUMERIC_DATE, 1).cast(pl.Int32, strict=False).alias("a"),
        pl.col("v").str.extract(NUMERIC_DATE, 2).cast(pl.Int32, strict=False).alias("b"))
    numeric = parts.filter(pl.col("a").is_not_null() & pl.col("b").is_not_null())
    day_first = numeric.filter((pl.col("a") > 12) & (pl.col("b") <= 12)).height
    month_first = numeric.filter((pl.col("b") > 12) & (pl.col("a") <= 12)).height
    return numeric.height, day_first, month_first


def decide_date_order(values: pl.Series, profile: SourceProfile) -> DateOrderDecision:
    """The date order of a file's numeric dates (declared by the profile, or decided from the values)."""
    orders = [o for o in (format_date_order(f) for f in profile.timestamp_formats) if o]
    numeric, day_first, month_first = date_evidence(values)
    if not numeric:
        return DateOrderDecision(orders[0] if orders else "none", 0, 0)
    if profile.date_order in ("dmy", "mdy"):
        order, why = profile.date_order, "declared by the profile"
    elif day_first and not month_first:
        order, why = "dmy", f"{day_first} line(s) can only be day-first"
    elif month_first and not day_first:
        order, why = "mdy", f"{month_first} line(s) can only be month-first"
    elif day_first or month_first:
        order = "dmy" if day_first >= month_first else "mdy"
        why = f"{day_first} line(s) can only be day-first, {month_first} only month-first: the majority wins"
    else:
        order = orders[0] if orders else "dmy"
        why = "every numeric date is ambiguous: the profile's first numeric format decides"
    decision = DateOrderDecision(order, day_first, month_first)
    note = f"numeric dates read {ORDER_NAMES[order]}: {why}"
    if decision.contradicting:
        note += f"; {decision.contradicting} line(s) contradict it and are quarantined"
    return DateOrderDecision(order, day_first, month_first, note)


def swapped_formats(formats: tuple[str, ...]) -> tuple[str, ...]:
    """The numeric-date formats with day and month swapped: what a contradicting line would need."""
    out = []
    for fmt in formats:
        if format_date_order(fmt):
            out.append(fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m"))
    return tuple(out)


# --- numbers ---------------------------------------------------------------------------------------------------
def number_pattern(decimal_separator: str, thousands_separator: str, *, integer: bool) -> str:
    """A full-match regular expression for a number as a profile declares it.

    Integers: optional sign, digits (grouped by the thousands separator when one is declared), and at
    most a zero fraction (``2.0``, as spreadsheets write whole numbers). Decimals: a fraction and an
    exponent are allowed. No hexadecimal, no underscores, no spaces inside."""
    s = re.escape(decimal_separator)
    digits = r"[0-9]+"
    if thousands_separator:
        t = re.escape(thousands_separator)
        digits = rf"(?:[0-9]{{1,3}}(?:{t}[0-9]{{3}})+|[0-9]+)"
    if integer:
        return rf"^[+-]?{digits}(?:{s}0*)?$"
    return rf"^[+-]?(?:{digits}(?:{s}[0-9]*)?|{s}[0-9]+)(?:[eE][+-]?[0-9]+)?$"
