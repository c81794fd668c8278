"""Day-to-day use with your own layout (issue 17): a semicolon CSV with decimal commas and day.month.year
dates fails clearly without a profile, `crmwh profile infer` writes one, the same file then loads with it,
every line; a rejected file can be retried; a profile given by path may declare decimal quantities."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_support import warehouse_rows

from warehouse.cli import main
from warehouse.foundation.settings import Settings

SALES_EU = (
    "Rechnungsnr;Pos;Artikel;Bezeichnung;Menge;Einzelpreis;Datum;Kunde;Land\n"
    "R-1001;1;A100;Kaffeebecher;2;12,50;03.01.2024;K-17;Deutschland\n"
    "R-1001;2;A200;Teller groß;1;1.234,00;03.01.2024;K-17;Deutschland\n"
    "R-1002;1;A100;Kaffeebecher;4;12,50;15.01.2024;K-18;Österreich\n"
    "R-1003;1;A300;Schüssel;-1;3,99;31.01.2024;;Österreich\n"
    "\n"
)



def test_own_layout_fails_clearly_then_infer_then_every_line_loads(pipeline_settings: Settings, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    drop = tmp_path / "sales_eu.csv"
    drop.write_text(SALES_EU, encoding="utf-8")
    assert main(["ingest", str(drop)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("crmwh: error: sales_eu.csv: missing required column(s)")
    assert "the file's header: Rechnungsnr, Pos, Artikel" in err and "profile canonical expects: order_id" in err
    assert "crmwh profile infer FILE" in err

    assert main(["profile", "infer", str(drop)]) == 0
    out = capsys.readouterr().out
    for guessed in ("columns.order_id      Rechnungsnr", "decimal_separator     ','", "thousands_separator   '.'",
                    "date_order            dmy", "timestamp_formats     %d.%m.%Y", "delimiter             ';'"):
        assert guessed in out, out
    written = pipeline_settings.profiles_dir / "sales_eu.toml"
    assert written.is_file() and "crmwh ingest" in out
    assert main(["profile", "infer", str(drop)]) == 2  # never overwrites without --force
    capsys.readouterr()

    assert main(["ingest", str(drop), "--profile", "sales_eu"]) == 0  # the rejected content is read again
    out = capsys.readouterr().out
    assert "read 4, loaded 4, quarantined 0" in out and "blank lines skipped 1" in out
    rows = warehouse_rows(pipeline_settings, "select order_id, line_number, quantity, unit_price::varchar, "
                                    "order_ts::date::varchar, customer_id, is_return from core.fct_sales_line "
                                    "order by order_id, line_number")
    assert rows == [("R-1001", 1, 2, "12.5000", "2024-01-03", "sales_eu:K-17", False),
                    ("R-1001", 2, 1, "1234.0000", "2024-01-03", "sales_eu:K-17", False),
                    ("R-1002", 1, 4, "12.5000", "2024-01-15", "sales_eu:K-18", False),
                    ("R-1003", 1, -1, "3.9900", "2024-01-31", None, True)]
    registry = warehouse_rows(pipeline_settings, "select status, count(*) from audit.load_batches group by 1 order by 1")
    assert registry == [("rejected", 1), ("succeeded", 1)]
    assert warehouse_rows(pipeline_settings, "select status from audit.file_registry") == [("loaded",)]
    assert warehouse_rows(pipeline_settings, "select rows_read, rows_blank from audit.load_batches where status = 'succeeded'") \
        == [(4, 1)]


def test_a_profile_by_path_with_decimal_quantities(pipeline_settings: Settings, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "butcher.toml"
    profile.write_text('name = "butcher"\ndecimal_separator = ","\ndecimal_quantities = true\n'
                       'timestamp_formats = ["%d.%m.%Y %H:%M"]\ndate_order = "dmy"\ndefault_currency = "GBP"\n'
                       '[columns]\norder_id = "Bon"\nproduct_code = "PLU"\ndescription = "Ware"\nquantity = "kg"\n'
                       'unit_price = "Preis/kg"\norder_ts = "Zeit"\n', encoding="utf-8")
    drop = tmp_path / "waage.csv"
    drop.write_text("Bon;PLU;Ware;kg;Preis/kg;Zeit\nB1;11;Rinderhack;1,5;9,80;02.03.2024 09:15\n"
                    "B1;12;Speck;0,25;14,00;02.03.2024 09:15\nB2;11;Rinderhack;0,00001;9,80;02.03.2024 10:00\n",
                    encoding="utf-8")
    assert main(["ingest", str(drop), "--profile", str(profile)]) == 0
    assert "read 3, loaded 2, quarantined 1" in capsys.readouterr().out
    rows = warehouse_rows(pipeline_settings, "select product_id, quantity, exact_quantity::varchar, net_amount::varchar "
                                    "from core.fct_sales_line order by product_id")
    assert rows == [("11", 2, "1.5000", "14.70"), ("12", 1, "0.2500", "3.50")]
    reason = warehouse_rows(pipeline_settings, "select reason from quarantine.stg_files__sales_lines")[0][0]
    assert "quantity '0,00001' is not zero but rounds to zero" in reason
    # the batch recorded the profile it was read with (the file may change or vanish later)
    spec = warehouse_rows(pipeline_settings, "select profile, profile_spec from audit.load_batches")[0]
    assert spec[0] == "butcher" and '"decimal_quantities": true' in spec[1]


def test_profile_values_are_data_and_a_replaced_version_is_not_replayed(pipeline_settings: Settings,
                                                                         tmp_path: Path) -> None:
    from warehouse.ops.pipeline import ingest_file
    from warehouse.ops.replay import replay

    evil = 'id"; drop table core.fct_sales_line; --'
    profile = tmp_path / "evil.toml"
    profile.write_text(f"name = \"evil\"\ndelimiter = \",\"\ncancel_prefix = \"'; drop table audit.load_batches; --\"\n[columns]\n"
                       f"order_id = '{evil}'\nproduct_code = \"sku\"\nquantity = \"qty\"\nunit_price = \"price\"\n"
                       "order_ts = \"ts\"\ndescription = \"name\"\n", encoding="utf-8")
    first = tmp_path / "v1" / "orders.csv"
    first.parent.mkdir()
    first.write_text(f'"{evil.replace(chr(34), chr(34) * 2)}",sku,qty,price,ts,name\n'
                     "O1,P1,2,1.00,2024-03-01 10:00:00,Mug\nO1,P2,0,1.00,2024-03-01 10:00:00,Cup\n", encoding="utf-8")
    result = ingest_file(pipeline_settings, first, str(profile))
    assert (result.rows_loaded, result.rows_quarantined) == (1, 1)  # the zero quantity waits in quarantine
    second = tmp_path / "v2" / "orders.csv"
    second.parent.mkdir()
    second.write_text(first.read_text(encoding="utf-8").splitlines()[0] + "\nO1,P1,3,1.00,2024-03-01 10:00:00,Mug\n",
                      encoding="utf-8")
    assert ingest_file(pipeline_settings, second, str(profile)).rows_loaded == 1
    # the corrected file replaced the first version: its quarantined line is history, not replayed
    (outcome,) = replay(pipeline_settings, "stg_files__sales_lines")
    assert outcome.candidates == 0 and outcome.loaded == 0
    assert warehouse_rows(pipeline_settings, "select product_id, quantity from core.fct_sales_line") == [("P1", 3)]
    assert warehouse_rows(pipeline_settings, "select count(*) from audit.load_batches") == [(2,)]
