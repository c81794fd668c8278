"""Source profiles of file drops: TOML files mapping a file's columns onto canonical sales lines, with
the source's own rules (cancellation prefix, customer id clean-up, number and date formats, whether
product codes are case-insensitive, whether quantities may be fractional).

Profiles are looked up by name in ``<data dir>/profiles/`` (the user's own, which win) and here (the
shipped ones), or read from a path (``crmwh ingest FILE --profile my_layout.toml``). Every profile is
validated when read: unknown keys, wrong types, unmapped required columns and unknown formats are one
clear :class:`ProfileError` naming the file and the key. ``crmwh profile infer FILE`` proposes one.

A batch records the profile it was read with (``audit.load_batches.profile_spec``, JSON), so staging,
validation and replay always apply exactly that profile, whatever happens to the file later.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warehouse.foundation.errors import SourceError

if TYPE_CHECKING:
    import duckdb

    from warehouse.foundation.settings import Settings

PROFILES_DIR = Path(__file__).resolve().parent

# The canonical sales-line columns a profile can map (raw.files__sales_lines has exactly these).
CANONICAL_COLUMNS: tuple[str, ...] = (
    "order_id", "line_number", "product_code", "description", "quantity", "unit_price", "discount",
    "order_ts", "customer_id", "country", "currency", "channel",
)
DEFAULT_REQUIRED: tuple[str, ...] = ("order_id", "product_code", "quantity", "unit_price", "order_ts")
DATE_ORDERS = ("auto", "dmy", "mdy")
DECIMAL_SEPARATORS = (".", ",")
THOUSANDS_SEPARATORS = ("", ",", ".", " ", "'")
CSV_DELIMITERS = ("", ",", ";", "\t", "|")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# strftime directives DuckDB's strptime understands (and profiles may use)
_DIRECTIVES = set("aAbBcdfgGHIjmMpSuUVwWxXyYzZ%")


class ProfileError(SourceError):
    """A source profile cannot be found or is not valid."""


@dataclass(frozen=True)
class SourceProfile:
    name: str
    columns: dict[str, str]  # canonical column -> file column
    required: tuple[str, ...] = DEFAULT_REQUIRED
    description: str = ""
    case_insensitive_codes: bool = False
    cancel_prefix: str = ""
    customer_id_strip: str = ""
    timestamp_formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S",)
    default_currency: str = "GBP"
    default_channel: str = "web"
    # numbers: "12,50" with decimal_separator ","; thousands grouping only where declared ("1.234,50")
    decimal_separator: str = "."
    thousands_separator: str = ""
    # fractional quantities (weights, lengths) are kept exactly instead of being quarantined
    decimal_quantities: bool = False
    # numeric dates: dmy / mdy declared, or auto = decided once per file from its values
    date_order: str = "auto"
    # CSV delimiter ("" = detected per file)
    delimiter: str = ""
    origin: str = field(default="", compare=False)  # where it was read from (for messages)

    def match_columns(self, header: list[str]) -> tuple[dict[str, str], list[str]]:
        """(canonical -> actual header name for every mapped column present, missing required columns)."""
        normalised = {h.strip().lstrip("\ufeff").lower(): h for h in header}
        found = {canon: normalised[col.strip().lower()] for canon, col in self.columns.items()
                 if col.strip().lower() in normalised}
        missing = [self.columns.get(c, c) + ("" if self.columns.get(c, c) == c else f" ({c})")
                   for c in self.required if c not in found]
        return found, missing

    def expected_columns(self) -> str:
        """The file columns this profile reads, required ones first (for error messages)."""
        required = [self.columns[c] for c in self.required if c in self.columns]
        optional = [v for k, v in self.columns.items() if k not in self.required]
        text = ", ".join(required)
        return text + (f" (optional: {', '.join(optional)})" if optional else "")

    def spec(self) -> str:
        """The profile as JSON (recorded with every batch read with it)."""
        data = asdict(self)
        data["required"] = list(self.required)
        data["timestamp_formats"] = list(self.timestamp_formats)
        return json.dumps(data, sort_keys=True)

    def to_toml(self) -> str:
        """The profile as a TOML file in the shipped profiles' format."""
        lines = [f"name = {_toml(self.name)}", f"description = {_toml(self.description)}"]
        for f in fields(self):
            if f.name in ("name", "description", "columns", "origin"):
                continue
            lines.append(f"{f.name} = {_toml(getattr(self, f.name))}")
        lines += ["", "# canonical column = file column (matched case-insensitively, surrounding blanks ignored)",
                  "[columns]"]
        lines += [f"{k} = {_toml(v)}" for k, v in self.columns.items()]
        return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


# --- lookup ----------------------------------------------------------------------------------------------
def _user_dir(settings: Settings | None) -> Path | None:
    return settings.profiles_dir if settings is not None else None


def profile_paths(settings: Settings | None = None) -> dict[str, Path]:
    """Every profile by name: the shipped ones, then the user's (``<data dir>/profiles``), which win."""
    found = {p.stem: p for p in sorted(PROFILES_DIR.glob("*.toml"))}
    user = _user_dir(settings)
    if user is not None and user.is_dir():
        found.update({p.stem: p for p in sorted(user.glob("*.toml")) if _NAME.match(p.stem)})
    return found


def available_profiles(settings: Settings | None = None) -> list[str]:
    return sorted(profile_paths(settings))


def is_profile_path(ref: str) -> bool:
    return ref.endswith(".toml") or "/" in ref or "\\" in ref


def load_profile(ref: str, settings: Settings | None = None) -> SourceProfile:
    """A profile by name (user profiles first, then shipped) or by path to a TOML file."""
    if is_profile_path(ref):
        path = Path(ref).expanduser()
        if not path.is_file():
            raise ProfileError(f"profile file {path} does not exist")
        return read_profile_file(path)
    paths = profile_paths(settings)
    if ref not in paths:
        raise ProfileError(f"unknown source profile {ref!r} (available: {', '.join(sorted(paths))}; or give "
                           "a path to a .toml file, or propose one with `crmwh profile infer FILE`)")
    return read_profile_file(paths[ref])


def read_profile_file(path: Path) -> SourceProfile:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"profile {path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {path}: not valid TOML ({exc})") from exc
    return profile_from_dict(data, source=str(path), default_name=path.stem)


_TYPES: dict[str, type] = {
    "name": str, "description": str, "case_insensitive_codes": bool, "cancel_prefix": str,
    "customer_id_strip": str, "default_currency": str, "default_channel": str, "decimal_separator": str,
    "thousands_separator": str, "decimal_quantities": bool, "date_order": str, "delimiter": str,
}


def profile_from_dict(data: dict[str, Any], *, source: str, default_name: str) -> SourceProfile:
    """Validate a profile's TOML content; every problem is a ProfileError naming ``source`` and the key."""
    def bad(message: str) -> ProfileError:
        return ProfileError(f"profile {source}: {message}")

    data = dict(data)
    known = set(_TYPES) | {"columns", "required", "timestamp_formats"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise bad(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    for key, kind in _TYPES.items():
        if key in data and not isinstance(data[key], kind):
            raise bad(f"{key} must be {'true or false' if kind is bool else 'a string'}, not {data[key]!r}")
    name = data.get("name", default_name)
    if not _NAME.match(name):
        raise bad(f"name {name!r} must be lower-case letters, digits and underscores, starting with a letter")
    columns = data.get("columns", {})
    if not isinstance(columns, dict) or not columns:
        raise bad("needs a [columns] table mapping canonical columns to the file's column names")
    unknown_cols = sorted(set(columns) - set(CANONICAL_COLUMNS))
    if unknown_cols:
        raise bad(f"unknown canonical column(s) {', '.join(unknown_cols)} in [columns] "
                  f"(known: {', '.join(CANONICAL_COLUMNS)})")
    for canon, col in columns.items():
        if not isinstance(col, str) or not col.strip():
            raise bad(f"[columns] {canon} must name a file column (a non-empty string)")
    lowered = [c.strip().lower() for c in columns.values()]
    repeated = sorted({c for c in lowered if lowered.count(c) > 1})
    if repeated:
        raise bad(f"[columns] maps file column(s) {', '.join(repeated)} more than once")
    required = data.get("required", list(DEFAULT_REQUIRED))
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise bad("required must be a list of canonical column names")
    unmapped = [r for r in required if r not in columns]
    if unmapped:
        raise bad(f"required column(s) {', '.join(unmapped)} are not mapped in [columns]")
    formats = data.get("timestamp_formats", ["%Y-%m-%d %H:%M:%S"])
    if not isinstance(formats, list) or not formats or not all(isinstance(f, str) for f in formats):
        raise bad("timestamp_formats must be a non-empty list of strptime formats")
    for fmt in formats:
        directives = re.findall(r"%-?(.)", fmt)
        if not directives or any(d not in _DIRECTIVES for d in directives):
            raise bad(f"timestamp format {fmt!r} is not a strptime format (e.g. \"%d.%m.%Y %H:%M\")")
    checks = (("decimal_separator", DECIMAL_SEPARATORS), ("thousands_separator", THOUSANDS_SEPARATORS),
              ("date_order", DATE_ORDERS), ("delimiter", CSV_DELIMITERS))
    for key, allowed in checks:
        if key in data and data[key] not in allowed:
            raise bad(f"{key} must be one of {', '.join(repr(a) for a in allowed)}, not {data[key]!r}")
    if data.get("thousands_separator", "") and data.get("thousands_separator") == data.get("decimal_separator", "."):
        raise bad("thousands_separator and decimal_separator must differ")
    currency = data.get("default_currency", "GBP")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise bad(f"default_currency must be a 3-letter ISO 4217 code such as EUR, not {currency!r}")
    if data.get("customer_id_strip"):
        try:
            re.compile(data["customer_id_strip"])
        except re.error as exc:
            raise bad(f"customer_id_strip is not a regular expression ({exc})") from exc
    values = {k: v for k, v in data.items() if k in _TYPES}
    values.update(name=name, columns=dict(columns), required=tuple(required), timestamp_formats=tuple(formats),
                  origin=source)
    return SourceProfile(**values)


def profile_from_spec(spec: str) -> SourceProfile:
    data = json.loads(spec)
    data["required"] = tuple(data.get("required", DEFAULT_REQUIRED))
    data["timestamp_formats"] = tuple(data.get("timestamp_formats", ()))
    allowed = {f.name for f in fields(SourceProfile)}
    return SourceProfile(**{k: v for k, v in data.items() if k in allowed})


def batch_profile(con: duckdb.DuckDBPyConnection, batch_id: str, name: str | None,
                  settings: Settings | None = None) -> SourceProfile:
    """The profile a batch was read with: its recorded spec, else (older batches) the profile by name."""
    # imported here, not at the top: `crmwh ingest --help` reads the profiles without the settings library
    from warehouse.foundation.db import column_types

    row = None
    if "profile_spec" in column_types(con, "audit.load_batches"):
        row = con.execute("select profile_spec from audit.load_batches where batch_id = ?", [batch_id]).fetchone()
    if row and row[0]:
        return profile_from_spec(row[0])
    return load_profile(name or "canonical", settings)


# --- numeric dates -----------------------------------------------------------------------------------------
def format_date_order(fmt: str) -> str | None:
    """"dmy" / "mdy" for a format with day and month as numbers in that order, None for others
    (year first, month names): the formats a file's date order decides between."""
    positions = {d: fmt.find(f"%{d}") for d in "dmYyb"}
    day, month = positions["d"], positions["m"]
    if day < 0 or month < 0:
        return None
    year = max(positions["Y"], positions["y"])
    if 0 <= year < min(day, month):
        return None
    return "dmy" if day < month else "mdy"


def formats_for_order(formats: tuple[str, ...], order: str) -> tuple[str, ...]:
    """The formats that agree with a decided date order (every one for an undecided order)."""
    if order not in ("dmy", "mdy"):
        return formats
    return tuple(f for f in formats if format_date_order(f) in (None, order))


def formats_against_order(formats: tuple[str, ...], order: str) -> tuple[str, ...]:
    """The formats of the other date order (a value parsing only with these contradicts the file)."""
    if order not in ("dmy", "mdy"):
        return ()
    return tuple(f for f in formats if format_date_order(f) not in (None, order))
