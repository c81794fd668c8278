"""Money in one currency: exchange rates into the reporting currency (``settings.currency``).

Sales lines keep their own currency and their amount in it (``core.fct_sales_line.currency``,
``local_net_amount``); ``net_amount``, which every mart sums, is in the reporting currency:
``round(local_net_amount * fx_rate, 2)``, with the rate valid at the order time. A line in another
currency with no rate is quarantined by validation (``currency_has_rate``), never added unconverted.

Rates come from a declared CSV file (``settings.rates_path``: columns ``currency``, ``rate`` = units of
the reporting currency per unit of the currency, optional ``valid_from`` = first day the rate holds;
it holds until the next one) and/or a table of the CRM source database with the same columns
(``settings.currency.rates_table``). :func:`refresh_rates` replaces ``core.fx_rates`` with them at every
staging step, so a rate added later is used by the next run and by ``crmwh quarantine replay``.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb

from warehouse.foundation.errors import CrmwhError
from warehouse.foundation.settings import Settings

_CODE = re.compile(r"^[A-Z]{3}$")


class RatesError(CrmwhError):
    """The declared exchange rates cannot be read."""


Rate = tuple[str, date | None, Decimal]


def parse_rates(text: str, source: str, reporting: str) -> list[Rate]:
    """Rates from CSV text; every defect is a RatesError naming the source and the line."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = {(f or "").strip().lower(): f for f in reader.fieldnames or []}
    missing = [c for c in ("currency", "rate") if c not in fields]
    if missing:
        raise RatesError(f"rates {source}: missing column(s) {', '.join(missing)} "
                         "(columns: currency, rate, optional valid_from)")
    rates: list[Rate] = []
    seen: set[tuple[str, date | None]] = set()
    for line, row in enumerate(reader, start=2):
        values = {k: (row.get(v) or "").strip() for k, v in fields.items()}
        if not any(values.values()):
            continue
        rates.append(_rate(values, f"rates {source} line {line}", reporting, seen))
    return rates


def _rate(values: dict[str, str], where: str, reporting: str, seen: set[tuple[str, date | None]]) -> Rate:
    code = values["currency"].upper()
    if not _CODE.match(code):
        raise RatesError(f"{where}: currency {values['currency']!r} is not a 3-letter ISO 4217 code")
    try:
        rate = Decimal(values["rate"])
    except InvalidOperation:
        raise RatesError(f"{where}: rate {values['rate']!r} is not a number") from None
    if not rate.is_finite() or rate <= 0:
        raise RatesError(f"{where}: rate {values['rate']!r} must be a positive number")
    valid_from = None
    if values.get("valid_from"):
        try:
            valid_from = date.fromisoformat(values["valid_from"][:10])
        except ValueError:
            raise RatesError(f"{where}: valid_from {values['valid_from']!r} is not a date (YYYY-MM-DD)") from None
    if code == reporting and rate != 1:
        raise RatesError(f"{where}: the reporting currency {reporting} converts at 1, not {rate}")
    if (code, valid_from) in seen:
        raise RatesError(f"{where}: a second rate for {code} from {valid_from or 'the start'}")
    seen.add((code, valid_from))
    return code, valid_from, rate


def read_rates_table(settings: Settings) -> list[Rate]:
    """Rates from ``settings.currency.rates_table`` in the CRM source database (empty: none)."""
    table = settings.currency.rates_table
    if not table:
        return []
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
        raise RatesError(f"rates table {table!r} is not a plain table name")
    from warehouse.ingest.extract import source_connection

    with source_connection(settings.source_url) as (con, _):
        cur = con.cursor()
        try:
            cur.execute(f'select * from "{table}"')
            arrow = cur.fetch_arrow_table()
        except Exception as exc:  # noqa: BLE001 - any driver failure names the table
            raise RatesError(f"cannot read the rates table {table} from the source: {str(exc).splitlines()[0]}") from exc
        finally:
            cur.close()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(arrow.column_names)
    for row in zip(*(arrow.column(c).to_pylist() for c in arrow.column_names), strict=True):
        writer.writerow(["" if v is None else v for v in row])
    return parse_rates(out.getvalue(), f"table {table}", settings.currency.reporting_currency)


def declared_rates(settings: Settings) -> tuple[list[Rate], str]:
    """(rates, where they came from) from the rates file and the rates table."""
    reporting = settings.currency.reporting_currency
    if not _CODE.match(reporting):
        raise RatesError(f"currency.reporting_currency {reporting!r} is not a 3-letter ISO 4217 code")
    rates: list[Rate] = []
    sources = []
    path: Path = settings.rates_path
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RatesError(f"rates file {path}: cannot be read ({exc})") from exc
        rates += parse_rates(text, str(path), reporting)
        sources.append(str(path))
    elif settings.currency.rates_file:
        raise RatesError(f"the rates file {path} (currency.rates_file) does not exist")
    table_rates = read_rates_table(settings)
    if table_rates:
        file_keys = {(c, v) for c, v, _ in rates}
        clash = [f"{c} from {v or 'the start'}" for c, v, _ in table_rates if (c, v) in file_keys]
        if clash:
            raise RatesError(f"rates for {', '.join(clash[:5])} are declared in both the rates file and table")
        rates += table_rates
        sources.append(f"table {settings.currency.rates_table}")
    return rates, " + ".join(sources)


def refresh_rates(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Replace ``core.fx_rates`` with the declared rates (own transaction); returns the rates loaded."""
    rates, source = declared_rates(settings)
    reporting = settings.currency.reporting_currency
    rows = [(c, v, r) for c, v, r in rates if c != reporting]
    now = datetime.now()
    con.execute("begin transaction")
    try:
        con.execute("delete from core.fx_rates")
        if rows:
            con.executemany("insert into core.fx_rates values (?, coalesce(?::timestamp, '-infinity'::timestamp), "
                            "'infinity'::timestamp, ?, ?, ?, ?)",
                            [(c, v, r, reporting, source, now) for c, v, r in rows])
            # each rate holds until the next one of its currency
            con.execute("""update core.fx_rates f set valid_to = n.next_from from (
                               select currency, valid_from,
                                      lead(valid_from) over (partition by currency order by valid_from) as next_from
                               from core.fx_rates) n
                           where f.currency = n.currency and f.valid_from = n.valid_from and n.next_from is not null""")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return len(rows)
