"""Staging of file drops: the SQL of ``sql/staging/stg_files__sales_lines.sql`` with the batch's profile.

Every batch is staged with the profile it was read with (its recorded spec) and the date order decided
for its file. Numbers are parsed strictly:

- quantities are integers (``12``, ``-3``, ``2.0``; grouped ``1.000`` only where the profile declares a
  thousands separator): ``1.5``, ``0x10``, ``1_000`` or ``-1e2`` do not parse and validation quarantines
  the line (``parse_quantity``). A profile with ``decimal_quantities = true`` keeps fractional ones
  exactly (``exact_quantity``; ``quantity`` then counts whole units, never 0 for a non-zero amount);
- prices and discounts are decimals in the profile's notation (``12,50`` with a decimal comma); a
  non-zero amount that rounds to zero at 4 decimals (``1e-30``) is an underflow: quarantined.
"""

from __future__ import annotations

import duckdb

from warehouse.foundation.db import read_sql
from warehouse.foundation.pii import install_pii_macros
from warehouse.foundation.settings import Settings
from warehouse.foundation.sqltext import quote_literal
from warehouse.ingest.file_formats import ORDER_NAMES, number_pattern, swapped_formats
from warehouse.ingest.profiles import SourceProfile, batch_profile, formats_for_order

NEVER_MATCHES = "%Y#crmwh-no-format#"  # try_strptime needs a non-empty list of formats


def _text(column: str) -> str:
    """The cleaned text of a column (computed once in the staging SQL's ``cleaned`` step)."""
    return f"{column}_t"


def _normalised(column: str, profile: SourceProfile) -> str:
    expr = _text(column)
    if profile.thousands_separator:
        expr = f"replace({expr}, {quote_literal(profile.thousands_separator)}, '')"
    if profile.decimal_separator != ".":
        expr = f"replace({expr}, {quote_literal(profile.decimal_separator)}, '.')"
    return expr


def _matches(column: str, profile: SourceProfile, *, integer: bool, grouped: bool = True) -> str:
    pattern = number_pattern(profile.decimal_separator, profile.thousands_separator if grouped else "",
                             integer=integer)
    return f"regexp_full_match({_text(column)}, {quote_literal(pattern)})"


def _decimal(column: str, profile: SourceProfile) -> str:
    return (f"case when {_matches(column, profile, integer=False)} "
            f"then try_cast({_normalised(column, profile)} as decimal(18, 4)) end")


def _underflow(column: str, typed: str, profile: SourceProfile) -> str:
    """A non-zero amount that the typed value (``typed``, a DECIMAL(18, 4)) turned into 0."""
    return (f"case when {typed} = 0 and try_cast({_normalised(column, profile)} as double) <> 0 "
            f"then {quote_literal(column + ' ' + chr(39))} || {_text(column)} || {quote_literal(chr(39))} end")


def number_expressions(profile: SourceProfile) -> dict[str, str]:
    """SQL for each typed number of a file line under ``profile`` (placeholders of the staging SQL;
    ``*_t`` are the cleaned texts, ``*_p`` the parsed values of the ``parsed`` step)."""
    exact = "exact_quantity_p"
    if profile.decimal_quantities:
        quantity = (f"(case when {exact} = trunc({exact}) then {exact}::integer "
                    f"else (sign({exact}) * greatest(1, round(abs({exact}))))::integer end)")
        exact_quantity = f"({_decimal('quantity', profile)})"
    else:
        quantity = (f"(case when {_matches('quantity', profile, integer=True)} "
                    f"then try_cast(try_cast({_normalised('quantity', profile)} as decimal(38, 4)) as integer) end)")
        exact_quantity = "null::decimal(18, 4)"
    line_number = (f"(case when {_matches('line_number', profile, integer=True, grouped=False)} "
                   f"then try_cast(try_cast({_normalised('line_number', profile)} as decimal(38, 4)) as integer) end)")
    unit_price, discount = f"({_decimal('unit_price', profile)})", f"({_decimal('discount', profile)})"
    underflow = [_underflow("unit_price", unit_price, profile), _underflow("discount", discount, profile)]
    if profile.decimal_quantities:
        underflow.append(_underflow("quantity", exact_quantity, profile))
    return {"quantity": quantity, "exact_quantity": exact_quantity, "unit_price": unit_price,
            "discount": discount, "line_number": line_number, "underflow": ", ".join(underflow)}


def _date_order(con: duckdb.DuckDBPyConnection, batch_id: str) -> str:
    row = con.execute("select date_order from audit.load_batches where batch_id = ?", [batch_id]).fetchone()
    return (row[0] if row else None) or "none"


def file_staging_sql(con: duckdb.DuckDBPyConnection, settings: Settings, batch_id: str,
                     profile_name: str | None) -> tuple[str, dict]:
    """(staging SELECT, parameters) of one file batch, reading ``raw.files__sales_lines``."""
    install_pii_macros(con, settings)
    profile = batch_profile(con, batch_id, profile_name or settings.ingest.default_file_profile, settings)
    order = _date_order(con, batch_id)
    formats = formats_for_order(profile.timestamp_formats, order)
    # a value that parses only with day and month swapped contradicts the file's date order
    against = swapped_formats(formats) if order in ("dmy", "mdy") else ()
    sql = read_sql("staging/stg_files__sales_lines.sql")
    for key, expr in number_expressions(profile).items():
        sql = sql.replace("{" + key + "}", expr)
    params = {
        "customer_id_strip": profile.customer_id_strip or "$^",
        "timestamp_formats": list(formats) or [NEVER_MATCHES],
        "against_formats": list(against) or [NEVER_MATCHES],
        "date_order_text": ORDER_NAMES.get(order, "as the profile's formats say"),
        "fold_codes": profile.case_insensitive_codes,
        "default_currency": profile.default_currency,
        "default_channel": profile.default_channel,
        "cancel_prefix": profile.cancel_prefix,
        "reporting_currency": settings.currency.reporting_currency,
    }
    return sql, params
