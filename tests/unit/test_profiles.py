"""Source profiles as user files: found in the data directory and by path, validated with clear errors,
recorded per batch exactly as read."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from warehouse.foundation.settings import Settings
from warehouse.ingest.profiles import (
    ProfileError,
    available_profiles,
    load_profile,
    profile_from_dict,
    profile_from_spec,
)

MINIMAL = """name = "shop_eu"
decimal_separator = ","
date_order = "dmy"
timestamp_formats = ["%d.%m.%Y"]
[columns]
order_id = "Beleg"
product_code = "Artikel"
quantity = "Menge"
unit_price = "Preis"
order_ts = "Datum"
"""


@pytest.mark.parametrize(("change", "message"), [
    ({"colour": "red"}, "unknown key(s) colour"),
    ({"decimal_quantities": "yes"}, "decimal_quantities must be true or false"),
    ({"name": "Shop EU"}, "must be lower-case letters"),
    ({"date_order": "ydm"}, "date_order must be one of 'auto', 'dmy', 'mdy'"),
    ({"thousands_separator": ","}, "thousands_separator and decimal_separator must differ"),
    ({"timestamp_formats": ["dd.mm.yyyy"]}, "is not a strptime format"),
    ({"default_currency": "euro"}, "3-letter ISO 4217 code"),
    ({"customer_id_strip": "(["}, "customer_id_strip is not a regular expression"),
    ({"required": ["order_id", "channel"]}, "required column(s) channel are not mapped"),
    ({"columns": {"order_id": "Beleg", "shoe_size": "Size"}}, "unknown canonical column(s) shoe_size"),
    ({"columns": {"order_id": "Beleg", "product_code": "beleg"}}, "maps file column(s) beleg more than once"),
])
def test_invalid_profiles_are_refused_naming_the_key(change: dict, message: str) -> None:
    data = tomllib.loads(MINIMAL) | change
    with pytest.raises(ProfileError, match=re.escape(message)) as info:
        profile_from_dict(data, source="shop_eu.toml", default_name="shop_eu")
    assert str(info.value).startswith("profile shop_eu.toml: ")


def test_user_profiles_by_name_and_path_and_their_errors(settings: Settings, tmp_path: Path) -> None:
    settings.profiles_dir.mkdir(parents=True)
    (settings.profiles_dir / "shop_eu.toml").write_text(MINIMAL, encoding="utf-8")
    assert "shop_eu" in available_profiles(settings) and "canonical" in available_profiles(settings)
    by_name = load_profile("shop_eu", settings)
    assert by_name.decimal_separator == "," and by_name.columns["quantity"] == "Menge"
    elsewhere = tmp_path / "layout.toml"
    elsewhere.write_text(MINIMAL.replace("shop_eu", "layout"), encoding="utf-8")
    assert load_profile(str(elsewhere), settings).name == "layout"
    with pytest.raises(ProfileError, match=r"unknown source profile 'nope' \(available: canonical, online_retail, shop_eu"):
        load_profile("nope", settings)
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(str(tmp_path / "missing.toml"), settings)
    (tmp_path / "broken.toml").write_text("name = \n", encoding="utf-8")
    with pytest.raises(ProfileError, match="broken.toml: not valid TOML"):
        load_profile(str(tmp_path / "broken.toml"), settings)


def test_a_profile_survives_its_spec_and_its_toml() -> None:
    for name in ("canonical", "online_retail"):
        shipped = load_profile(name)
        assert profile_from_spec(shipped.spec()) == shipped
        again = profile_from_dict(tomllib.loads(shipped.to_toml()), source="x", default_name=name)
        assert again == shipped
    assert "InvoiceNo (order_id)" in load_profile("online_retail").match_columns(["StockCode"])[1]
    assert load_profile("canonical").match_columns(["order_id"])[1][0] == "product_code"


def test_infer_proposes_the_online_retail_layout_from_the_real_sample(settings: Settings) -> None:
    from warehouse.ingest.profile_infer import infer_profile

    sample = Path(__file__).resolve().parents[1] / "fixtures" / "online_retail_sample.csv"
    proposed, guesses = infer_profile(sample, settings)
    shipped = load_profile("online_retail")
    assert proposed.columns == shipped.columns
    assert (proposed.cancel_prefix, proposed.customer_id_strip) == (shipped.cancel_prefix, shipped.customer_id_strip)
    assert proposed.timestamp_formats == ("%Y-%m-%d %H:%M:%S",) and proposed.decimal_separator == "."
    assert all(g.why for g in guesses)
    with pytest.raises(ProfileError, match="found no column for quantity, unit_price"):
        other = Path(settings.data_dir) / "other.csv"
        other.parent.mkdir(parents=True, exist_ok=True)
        other.write_text("order,product,date\nA,P,2024-03-01\n", encoding="utf-8")
        infer_profile(other, settings)
