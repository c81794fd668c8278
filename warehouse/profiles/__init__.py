"""Source profiles of file drops: data files (``<name>.toml`` here) mapping a file's columns onto
canonical sales lines, with the source's own rules (cancellation prefix, customer id clean-up, date
formats, whether product codes are case-insensitive)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from warehouse.errors import SourceError

PROFILES_DIR = Path(__file__).resolve().parent

# The canonical sales-line columns a profile can map (raw.files__sales_lines has exactly these).
CANONICAL_COLUMNS: tuple[str, ...] = (
    "order_id", "line_number", "product_code", "description", "quantity", "unit_price", "discount",
    "order_ts", "customer_id", "country", "currency", "channel",
)


@dataclass(frozen=True)
class SourceProfile:
    name: str
    columns: dict[str, str]  # canonical column -> file column
    required: tuple[str, ...]
    description: str = ""
    case_insensitive_codes: bool = False
    cancel_prefix: str = ""
    customer_id_strip: str = ""
    timestamp_formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S",)
    default_currency: str = "GBP"
    default_channel: str = "web"
    extra: dict = field(default_factory=dict)

    def match_columns(self, header: list[str]) -> tuple[dict[str, str], list[str]]:
        """(canonical -> actual header name for every mapped column present, missing required columns)."""
        normalised = {h.strip().lstrip("\ufeff").lower(): h for h in header}
        found = {canon: normalised[col.strip().lower()] for canon, col in self.columns.items()
                 if col.strip().lower() in normalised}
        missing = [f"{self.columns.get(c, c)} ({c})" for c in self.required if c not in found]
        return found, missing


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def load_profile(name: str) -> SourceProfile:
    path = PROFILES_DIR / f"{name}.toml"
    if not name.replace("_", "").isalnum() or not path.is_file():
        raise SourceError(f"unknown source profile {name!r} (available: {', '.join(available_profiles())})")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    columns = dict(data.pop("columns", {}))
    unknown = set(columns) - set(CANONICAL_COLUMNS)
    if unknown:
        raise SourceError(f"profile {name}: unknown canonical column(s) {sorted(unknown)}")
    known = {"name", "description", "case_insensitive_codes", "cancel_prefix", "customer_id_strip",
             "timestamp_formats", "default_currency", "default_channel", "required"}
    return SourceProfile(
        name=data.get("name", name),
        columns=columns,
        required=tuple(data.get("required", ())),
        description=data.get("description", ""),
        case_insensitive_codes=bool(data.get("case_insensitive_codes", False)),
        cancel_prefix=data.get("cancel_prefix", ""),
        customer_id_strip=data.get("customer_id_strip", ""),
        timestamp_formats=tuple(data.get("timestamp_formats", ("%Y-%m-%d %H:%M:%S",))),
        default_currency=data.get("default_currency", "GBP"),
        default_channel=data.get("default_channel", "web"),
        extra={k: v for k, v in data.items() if k not in known},
    )
