"""``crmwh profile infer FILE``: propose a source profile from a file's header and values.

Reads the file as ingestion would (``warehouse.ingest.file_reader``: encoding, delimiter, limits), then guesses
and explains each choice:

- which column is the order, line, product, description, quantity, price, discount, date, customer,
  country, currency and channel: header names first (English, German, French, Spanish, Italian and
  Dutch words; ``Rechnungsnr``, ``Artikel``, ``Menge``, ``Preis``, ``Datum``, ``Kunde``, ...), values
  second (the one column where most values are dates, whole numbers, decimals, currency codes);
- the decimal separator (``12,50``) and a thousands separator (``1.234,50``), from the number columns;
- the timestamp formats that parse the date column, and its date order (day or month first) from the
  values (``13.01.2024`` can only be day-first); separators ``.`` and ``-`` suggest day-first;
- a cancellation prefix (order ids starting with ``C`` on negative quantities) and customer ids
  written as ``12345.0``.

The result is validated like any profile and written as TOML (the shipped profiles' format).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from warehouse.foundation.settings import Settings
from warehouse.ingest.file_formats import date_evidence, number_pattern
from warehouse.ingest.file_reader import read_drop
from warehouse.ingest.profiles import (
    CANONICAL_COLUMNS,
    DEFAULT_REQUIRED,
    ProfileError,
    SourceProfile,
    profile_from_dict,
)

SAMPLE_ROWS = 2000

# header words per canonical column (compared without case, accents, spaces or punctuation)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "order_id": ("orderid", "order", "orderno", "ordernumber", "ordernr", "invoice", "invoiceno", "invoicenumber",
                 "invoiceid", "rechnung", "rechnungsnr", "rechnungsnummer", "bestellung", "bestellnr", "bestellnummer",
                 "auftrag", "auftragsnr", "auftragsnummer", "beleg", "belegnr", "belegnummer", "factura", "numfactura",
                 "nfactura", "pedido", "numpedido", "commande", "numcommande", "ncommande", "facture", "numfacture",
                 "fattura", "ordine", "bestelnummer", "factuur", "factuurnummer", "receipt", "receiptno",
                 "transaction", "transactionid", "orderref"),
    "line_number": ("linenumber", "line", "lineno", "linenr", "pos", "position", "posnr", "zeile", "ligne",
                    "linea", "riga", "regel", "orderline"),
    "product_code": ("productcode", "product", "productid", "productno", "sku", "stockcode", "item", "itemid",
                     "itemcode", "itemno", "article", "articleno", "articlenumber", "artikel", "artikelnr",
                     "artikelnummer", "produkt", "produktnr", "produktcode", "ean", "gtin", "code", "codigo",
                     "referencia", "ref", "reference", "articolo", "codice", "artikelcode", "materialnr"),
    "description": ("description", "desc", "productname", "itemname", "articlename", "name", "beschreibung",
                    "bezeichnung", "artikelbezeichnung", "artikelname", "produktname", "descripcion", "libelle",
                    "designation", "descrizione", "omschrijving", "title", "text"),
    "quantity": ("quantity", "qty", "quantities", "menge", "anzahl", "stuck", "stueck", "stk", "cantidad",
                 "quantite", "qte", "quantita", "aantal", "units", "pieces", "pcs", "count"),
    "unit_price": ("unitprice", "price", "preis", "einzelpreis", "stueckpreis", "stuckpreis", "epreis",
                   "nettopreis", "precio", "preciounitario", "prix", "prixunitaire", "pu", "prezzo",
                   "prezzounitario", "prijs", "stukprijs", "unitcost", "priceeach", "rate"),
    "discount": ("discount", "rabatt", "nachlass", "descuento", "remise", "sconto", "korting"),
    "order_ts": ("orderts", "orderdate", "invoicedate", "date", "datum", "rechnungsdatum", "bestelldatum",
                 "belegdatum", "auftragsdatum", "fecha", "fechapedido", "fechafactura", "datefacture",
                 "datecommande", "data", "dataordine", "timestamp", "datetime", "time", "createdat",
                 "purchasedate", "orderdatetime", "saledate", "transactiondate"),
    "customer_id": ("customerid", "customer", "customerno", "customernumber", "customernr", "customercode",
                    "client", "clientid", "clientno", "kunde", "kundennr", "kundennummer", "kundenid", "kdnr",
                    "cliente", "idcliente", "numcliente", "klant", "klantnummer", "account", "accountid", "buyer",
                    "buyerid", "debitor", "debitornr"),
    "country": ("country", "land", "pays", "pais", "paese", "countrycode", "nation"),
    "currency": ("currency", "curr", "ccy", "currencycode", "waehrung", "wahrung", "devise", "moneda", "valuta",
                 "munt", "iso4217"),
    "channel": ("channel", "saleschannel", "kanal", "vertriebskanal", "canal", "canale", "kanaal"),
}
ISO_CURRENCIES = frozenset(("EUR", "GBP", "USD", "CHF", "JPY", "CNY", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF",
                            "AUD", "CAD", "NZD", "HKD", "SGD", "INR", "BRL", "MXN", "ZAR", "TRY", "RON", "BGN"))
DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
    "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d.%m.%y",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d-%m-%Y %H:%M", "%d-%m-%Y",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%m-%d-%Y",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%d %b %Y", "%b %d %Y",
)


@dataclass(frozen=True)
class Guess:
    """One choice the inference made and why."""

    key: str
    value: str
    why: str


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text.lower() if c.isalnum() and not unicodedata.combining(c))


def _sample(frame: pl.DataFrame, column: str) -> list[str]:
    values = frame[column].drop_nulls().str.strip_chars()
    return [v for v in values.head(SAMPLE_ROWS).to_list() if v]


def _share(values: list[str], pattern: str) -> float:
    if not values:
        return 0.0
    rx = re.compile(pattern)
    return sum(1 for v in values if rx.fullmatch(v)) / len(values)


def _by_header(header: list[str]) -> dict[str, tuple[str, str]]:
    """canonical -> (file column, why) from the header names (exact words first, then contained words)."""
    scored: list[tuple[int, int, str, str, str]] = []
    for position, column in enumerate(header):
        name = _norm(column)
        if not name:
            continue
        for canon, words in SYNONYMS.items():
            for rank, word in enumerate(words):
                if name == word:
                    scored.append((0, rank, canon, column, f"header {column!r} is the word {word!r}"))
                elif len(word) >= 4 and (word in name or (len(name) >= 4 and name in word)):
                    scored.append((1, rank, canon, column, f"header {column!r} contains {word!r}"))
        _ = position
    chosen: dict[str, tuple[str, str]] = {}
    used: set[str] = set()
    for _, _, canon, column, why in sorted(scored, key=lambda s: (s[0], s[1])):
        if canon not in chosen and column not in used:
            chosen[canon] = (column, why)
            used.add(column)
    return chosen


def _number_notation(values: list[str], delimiter: str | None) -> tuple[str, str, str]:
    """(decimal separator, thousands separator, why) from the values of number columns."""
    comma_dec = sum(1 for v in values if re.fullmatch(r"[+-]?[0-9]{1,3}(\.[0-9]{3})*,[0-9]+", v)
                    or re.fullmatch(r"[+-]?[0-9]+,[0-9]{1,3}", v) and not re.fullmatch(r"[0-9]{1,3},[0-9]{3}", v))
    dot_dec = sum(1 for v in values if re.fullmatch(r"[+-]?[0-9]{1,3}(,[0-9]{3})*\.[0-9]+", v)
                  or re.fullmatch(r"[+-]?[0-9]+\.[0-9]+", v) and not re.fullmatch(r"[0-9]{1,3}\.[0-9]{3}", v))
    grouped_dot = sum(1 for v in values if re.fullmatch(r"[+-]?[0-9]{1,3}(\.[0-9]{3})+(,[0-9]+)?", v))
    grouped_comma = sum(1 for v in values if re.fullmatch(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?", v))
    if comma_dec > dot_dec:
        thousands = "." if grouped_dot else ""
        why = f"{comma_dec} number(s) like '12,50' use a decimal comma" + (
            f"; {grouped_dot} group thousands with '.'" if grouped_dot else "")
        return ",", thousands, why
    if dot_dec and grouped_comma and delimiter != ",":
        return ".", ",", f"{dot_dec} number(s) use a decimal point, {grouped_comma} group thousands with ','"
    return ".", "", f"{dot_dec} number(s) like '12.50' use a decimal point" if dot_dec else "no fractional numbers seen: decimal point assumed"


def _parses(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def _date_formats(values: list[str]) -> tuple[list[str], float]:
    """The formats (in the order tried) that parse the values, and the share of values they parse."""
    chosen: list[str] = []
    left = list(values)
    for fmt in DATE_FORMATS:
        if not left:
            break
        parsed = [v for v in left if _parses(v, fmt)]
        if parsed:
            chosen.append(fmt)
            left = [v for v in left if v not in set(parsed)]
    share = 1 - len(left) / len(values) if values else 0.0
    return chosen, share


def _is_date_column(values: list[str]) -> float:
    return _date_formats(values[:200])[1] if values else 0.0


def profile_name_for(path: Path) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", _norm_keep_underscore(path.stem)).strip("_") or "profile"
    return name if name[0].isalpha() else f"p_{name}"


def _norm_keep_underscore(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text.lower() if not unicodedata.combining(c))


def infer_profile(path: Path, settings: Settings, name: str | None = None) -> tuple[SourceProfile, list[Guess]]:
    """A proposed profile for ``path`` and the reasons for every choice; ProfileError when the file lacks
    a column for a required role (with the header, so the user can map it by hand)."""
    table = read_drop(Path(path), settings.files)
    frame, header = table.frame, table.header
    guesses: list[Guess] = []
    if table.delimiter:
        guesses.append(Guess("delimiter", repr(table.delimiter), "detected from the first lines (csv.Sniffer)"))
    if table.encoding and table.encoding != "utf-8":
        guesses.append(Guess("encoding", table.encoding, "the file is not UTF-8"))
    mapping = _by_header(header)
    samples = {c: _sample(frame, c) for c in header}
    _fill_by_values(mapping, header, samples)
    missing = [c for c in DEFAULT_REQUIRED if c not in mapping]
    if missing:
        raise ProfileError(
            f"{Path(path).name}: found no column for {', '.join(missing)}; the file's header: {', '.join(header)}. "
            "Write the profile by hand (see warehouse/ingest/profiles/canonical.toml) mapping those columns")
    for canon in CANONICAL_COLUMNS:
        if canon in mapping:
            guesses.append(Guess(f"columns.{canon}", mapping[canon][0], mapping[canon][1]))
    number_values = [v for c in ("quantity", "unit_price", "discount") if c in mapping for v in samples[mapping[c][0]]]
    decimal, thousands, why = _number_notation(number_values, table.delimiter)
    guesses.append(Guess("decimal_separator", repr(decimal), why))
    if thousands:
        guesses.append(Guess("thousands_separator", repr(thousands), "grouped numbers seen"))
    quantity_values = samples[mapping["quantity"][0]]
    integer = number_pattern(decimal, thousands, integer=True)
    whole = _share(quantity_values, integer)
    decimal_quantities = bool(quantity_values) and whole < 1.0 and _share(
        quantity_values, number_pattern(decimal, thousands, integer=False)) >= 0.99
    if decimal_quantities:
        guesses.append(Guess("decimal_quantities", "true", f"{(1 - whole):.0%} of the quantities have a fraction"))
    date_values = samples[mapping["order_ts"][0]]
    formats, share = _date_formats(date_values)
    if not formats:
        raise ProfileError(f"{Path(path).name}: no date format parses column {mapping['order_ts'][0]!r} "
                           f"(values like {date_values[:3]}); write timestamp_formats by hand")
    numeric, day_first, month_first = date_evidence(pl.Series(date_values, dtype=pl.Utf8))
    if day_first and not month_first:
        order, why = "dmy", f"{day_first} date(s) can only be day-first (first field above 12)"
    elif month_first and not day_first:
        order, why = "mdy", f"{month_first} date(s) can only be month-first (second field above 12)"
    elif numeric and any(f.startswith("%d") for f in formats) and not any(f.startswith("%m") for f in formats):
        order, why = "dmy", "dates written with '.' or '-' between day and month are day-first"
    else:
        order = "auto"
        why = ("no numeric dates" if not numeric else
               f"{numeric} numeric date(s), all ambiguous: decided per file when loading")
    formats = [f for f in formats if order == "auto" or not f.startswith("%m" if order == "dmy" else "%d")] or formats
    guesses.append(Guess("timestamp_formats", ", ".join(formats), f"they parse {share:.0%} of {len(date_values)} "
                                                                  f"sampled value(s) of {mapping['order_ts'][0]!r}"))
    guesses.append(Guess("date_order", order, why))
    data: dict = {
        "name": name or profile_name_for(Path(path)),
        "description": f"Proposed by `crmwh profile infer` from {Path(path).name} on {datetime.now():%Y-%m-%d}",
        "columns": {c: mapping[c][0] for c in CANONICAL_COLUMNS if c in mapping},
        "required": list(DEFAULT_REQUIRED),
        "timestamp_formats": formats,
        "date_order": order,
        "decimal_separator": decimal,
        "thousands_separator": thousands,
        "decimal_quantities": decimal_quantities,
        "default_currency": settings.currency.reporting_currency,
    }
    if table.delimiter:
        data["delimiter"] = table.delimiter
    if "currency" not in mapping:
        guesses.append(Guess("default_currency", settings.currency.reporting_currency,
                             "no currency column: every line is taken to be in the reporting currency "
                             "(edit default_currency if the file is in another one)"))
    _extras(data, mapping, samples, guesses)
    profile = profile_from_dict(data, source=f"inferred from {Path(path).name}", default_name=data["name"])
    return profile, guesses


def _fill_by_values(mapping: dict[str, tuple[str, str]], header: list[str], samples: dict[str, list[str]]) -> None:
    """Required roles the header did not name, from the values of the columns left."""
    free = [c for c in header if c not in {v[0] for v in mapping.values()}]
    if "order_ts" not in mapping:
        scored = sorted(((_is_date_column(samples[c]), c) for c in free), reverse=True)
        if scored and scored[0][0] >= 0.8:
            mapping["order_ts"] = (scored[0][1], f"{scored[0][0]:.0%} of {scored[0][1]!r}'s values are dates")
            free.remove(scored[0][1])
    if "currency" not in mapping:
        for c in free:
            values = samples[c]
            if values and all(v.upper() in ISO_CURRENCIES for v in values):
                mapping["currency"] = (c, f"every value of {c!r} is a currency code ({values[0]})")
                free.remove(c)
                break
    for canon, pattern, label in (("quantity", r"[+-]?[0-9]+", "whole numbers"),
                                  ("unit_price", r"[+-]?[0-9]+([.,][0-9]+)?", "decimals")):
        if canon in mapping:
            continue
        scored = sorted(((_share(samples[c], pattern), c) for c in free), reverse=True)
        if scored and scored[0][0] >= 0.95:
            mapping[canon] = (scored[0][1], f"{scored[0][0]:.0%} of {scored[0][1]!r}'s values are {label}")
            free.remove(scored[0][1])


def _extras(data: dict, mapping: dict[str, tuple[str, str]], samples: dict[str, list[str]],
            guesses: list[Guess]) -> None:
    """Cancellation prefix and customer ids written as floats."""
    if "customer_id" in mapping:
        values = samples[mapping["customer_id"][0]]
        if values and _share(values, r"[0-9]+\.0+") >= 0.9:
            data["customer_id_strip"] = r"\.0+$"
            guesses.append(Guess("customer_id_strip", r"\.0+$", "customer ids are written as 12345.0"))
    orders = samples[mapping["order_id"][0]]
    quantities = samples[mapping["quantity"][0]]
    pairs = list(zip(orders, quantities, strict=False))
    negative = [o for o, q in pairs if q.startswith("-")]
    prefixed = [q for o, q in pairs if o[:1].upper() == "C" and o[1:2].isdigit()]
    with_c = sum(1 for o in negative if o[:1].upper() == "C" and o[1:2].isdigit())
    if negative and prefixed and all(q.startswith("-") for q in prefixed) and with_c >= 0.8 * len(negative):
        data["cancel_prefix"] = "C"
        guesses.append(Guess("cancel_prefix", "C", f"{with_c} of the {len(negative)} line(s) with a negative "
                                                   "quantity have an order id C + digits, and every such line is negative"))
