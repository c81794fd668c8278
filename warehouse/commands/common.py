"""Argument types and checks shared by the subcommands (standard library only: imported by --help)."""

from __future__ import annotations

import argparse
import datetime as dt
import math
from typing import TYPE_CHECKING

from warehouse.foundation.errors import CrmwhError

if TYPE_CHECKING:
    from warehouse.foundation.settings import Settings

# A date the analytics can compute with: windows and horizons of a few years either side must fit.
LATEST_AS_OF = dt.date(9000, 12, 31)


def get_settings() -> Settings:
    """``warehouse.foundation.settings.get_settings()``, imported when a command runs: the settings module loads
    pydantic-settings, which ``--help`` does not need."""
    from warehouse.foundation.settings import get_settings as cached

    return cached()


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {text!r}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a real number (no inf or nan)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, not {text!r}")
    return value


def parse_as_of(text: str, settings: Settings, option: str = "--as-of") -> dt.date:
    """A date YYYY-MM-DD no earlier than ``validation.earliest_plausible_date``."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise CrmwhError(f"{option} must be a date YYYY-MM-DD, not {text!r}") from None
    earliest = dt.date.fromisoformat(settings.validation.earliest_plausible_date)
    if day < earliest:
        raise CrmwhError(f"{option} {day} is before the earliest plausible date {earliest} "
                         "(validation.earliest_plausible_date)")
    if day > LATEST_AS_OF:
        raise CrmwhError(f"{option} {day} is too far in the future (latest {LATEST_AS_OF})")
    return day
