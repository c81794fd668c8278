"""Generating a demo whose currency is not the reporting one declares its rate, and never overwrites a
user's rates file or choice of reporting currency."""

from __future__ import annotations

from pathlib import Path

from warehouse.demo.reference_rates import declare_demo_rates
from warehouse.foundation.settings import load_settings
from warehouse.ingest.currency import declared_rates


def test_the_services_demo_declares_its_cny_rate_for_gbp_marts(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path))
    path = declare_demo_rates(settings, "services")
    assert path == settings.rates_path and path.is_file()
    rates, source = declared_rates(settings)  # the warehouse reads what was written
    assert [(r[0], str(r[2])) for r in rates] == [("CNY", "0.104")] and source == str(path)
    assert declare_demo_rates(settings, "retail") is None  # GBP into GBP: nothing to declare


def test_an_existing_rates_file_and_a_cny_reporting_currency_are_left_alone(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path))
    settings.rates_path.parent.mkdir(parents=True)
    settings.rates_path.write_text("currency,rate\nCNY,0.11\n", encoding="utf-8")
    assert declare_demo_rates(settings, "services") is None
    assert settings.rates_path.read_text(encoding="utf-8") == "currency,rate\nCNY,0.11\n"
    cny = load_settings(environ={"CRMWH_CURRENCY__REPORTING_CURRENCY": "CNY"}, data_dir=str(tmp_path / "cny"))
    assert declare_demo_rates(cny, "services") is None and not cny.rates_path.exists()
