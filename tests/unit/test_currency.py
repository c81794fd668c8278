"""Declared exchange rates: the rates file and the source table, their errors, and core.fx_rates periods."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from decimal import Decimal

import duckdb
import pytest

from warehouse.foundation.db import migrate
from warehouse.foundation.settings import Settings, load_settings
from warehouse.ingest.currency import RatesError, declared_rates, parse_rates, refresh_rates


@pytest.mark.parametrize(("text", "message"), [
    ("code,rate\nEUR,1\n", "missing column(s) currency"),
    ("currency,rate\neuro,0.8\n", "line 2: currency 'euro' is not a 3-letter ISO 4217 code"),
    ("currency,rate\nEUR,abc\n", "line 2: rate 'abc' is not a number"),
    ("currency,rate\nEUR,-1\n", "line 2: rate '-1' must be a positive number"),
    ("currency,rate,valid_from\nEUR,0.8,01.02.2024\n", "valid_from '01.02.2024' is not a date"),
    ("currency,rate\nGBP,1.1\n", "the reporting currency GBP converts at 1"),
    ("currency,rate,valid_from\nEUR,0.8,2024-01-01\nEUR,0.9,2024-01-01\n", "line 3: a second rate for EUR"),
])
def test_bad_rates_are_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(RatesError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_rates(text, "rates.csv", "GBP")


def test_rates_from_file_and_source_table_become_periods(settings: Settings, tmp_path) -> None:
    settings.rates_path.parent.mkdir(parents=True)
    settings.rates_path.write_text("\ufeffCurrency, Rate ,valid_from\nEUR,0.80,2024-01-01\nEUR,0.85,2024-02-01\n\n"
                                   "GBP,1,\n", encoding="utf-8")
    source = tmp_path / "crm.sqlite"
    with sqlite3.connect(source) as db:
        db.execute("create table fx (currency text, rate real, valid_from text)")
        db.execute("insert into fx values ('USD', 0.79, null)")
    configured = load_settings(environ={"CRMWH_DATA_DIR": str(settings.data_dir),
                                        "CRMWH_SOURCE_URL": f"sqlite:///{source}",
                                        "CRMWH_CURRENCY__RATES_TABLE": "fx"})
    rates, where = declared_rates(configured)
    assert [(c, str(r)) for c, _, r in rates] == [("EUR", "0.80"), ("EUR", "0.85"), ("GBP", "1"), ("USD", "0.79")]
    assert where.endswith("fx_rates.csv + table fx")
    con = duckdb.connect()
    migrate(con)
    assert refresh_rates(con, configured) == 3  # the reporting currency needs no row
    periods = con.execute("select currency, valid_from, valid_to, rate from core.fx_rates order by 1, 2").fetchall()
    assert periods[0] == ("EUR", datetime(2024, 1, 1), datetime(2024, 2, 1), Decimal("0.80000000"))
    assert periods[1][:2] == ("EUR", datetime(2024, 2, 1)) and periods[1][2] > datetime(9999, 1, 1)
    assert periods[2][0] == "USD" and periods[2][1] < datetime(1, 1, 2)
    missing = load_settings(environ={"CRMWH_DATA_DIR": str(settings.data_dir),
                                     "CRMWH_CURRENCY__RATES_FILE": str(tmp_path / "nope.csv")})
    with pytest.raises(RatesError, match="does not exist"):
        declared_rates(missing)
