"""The parameters of association-rule mining and their exact, inclusive reading (see
``transforms.association``). Standard library only: the settings import it, and ``crmwh --help`` stays fast."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

from transforms.errors import CrmwhError

COUNTERS: tuple[str, ...] = ("auto", "mlxtend", "sparse")


class MiningParameterError(CrmwhError):
    """A mining parameter is out of range."""


@dataclass(frozen=True)
class MiningParams:
    """The thresholds of one mining run, always given: the product's defaults have one home,
    ``settings.mining`` (``MiningSettings``), and ``MiningSettings.params()`` is the one mapping onto these."""

    min_support: float | int
    min_confidence: float
    min_lift: float
    max_len: int | None = 3
    max_consequent: int = 1
    counter: str = "auto"

    def validate(self) -> None:
        support_count(self.min_support, 1)  # raises on a bad value
        for name in ("min_confidence", "min_lift"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, Fraction)) or not math.isfinite(value) or value < 0:
                raise MiningParameterError(f"{name} must be a finite number >= 0, not {value!r}")
        if self.min_confidence > 1:
            raise MiningParameterError(f"min_confidence must be in [0, 1], not {self.min_confidence!r}")
        if self.max_len is not None and (int(self.max_len) != self.max_len or self.max_len < 1):
            raise MiningParameterError(f"max_len must be an integer >= 1, not {self.max_len!r}")
        if int(self.max_consequent) != self.max_consequent or self.max_consequent < 1:
            raise MiningParameterError(f"max_consequent must be an integer >= 1, not {self.max_consequent!r}")
        if self.counter not in COUNTERS:
            raise MiningParameterError(f"counter must be one of {', '.join(COUNTERS)}, not {self.counter!r}")


def exact(value: float | int | Fraction) -> Fraction:
    """The rational a threshold stands for: the decimal as written (0.8 -> 4/5)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    return Fraction(repr(float(value)))


def support_count(min_support: float | int | str, n_baskets: int) -> int:
    """The least integer basket count meeting ``min_support`` (a fraction in (0, 1] or a count >= 1)."""
    if isinstance(min_support, str):
        min_support = parse_support(min_support)
    if isinstance(min_support, bool):
        raise MiningParameterError(f"min_support must be a number, not {min_support!r}")
    if isinstance(min_support, numbers.Integral):
        if min_support < 1:
            raise MiningParameterError(f"min_support as a count must be >= 1, not {min_support}")
        return int(min_support)
    if not isinstance(min_support, (float, Fraction)) or not (0 < min_support <= 1):
        raise MiningParameterError(
            f"min_support must be a fraction in (0, 1] or a whole count >= 1, not {min_support!r}")
    return max(1, math.ceil(exact(min_support) * n_baskets))


def parse_support(text: str) -> float | int:
    """``"25"`` is a count of baskets, ``"0.01"``/``"1e-3"``/``"1.0"`` a fraction."""
    text = text.strip()
    try:
        if text.isdigit():
            return int(text)
        return float(text)
    except ValueError:
        raise MiningParameterError(f"min_support must be a number, not {text!r}") from None
