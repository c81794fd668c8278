from pathlib import Path

import pytest

from warehouse.settings import SettingsError, load_settings


def test_defaults_derive_every_path_from_the_data_dir(tmp_path: Path):
    s = load_settings({"CRMWH_DATA_DIR": str(tmp_path)})
    assert s.data_dir == tmp_path.resolve()
    assert s.source_url == f"sqlite:///{tmp_path.resolve()}/source/crm.sqlite"
    assert s.landing_dir == tmp_path.resolve() / "landing"
    assert s.warehouse_path == tmp_path.resolve() / "warehouse" / "crm.duckdb"
    assert s.published_path == tmp_path.resolve() / "published" / "marts.duckdb"


def test_toml_file_then_environment_then_overrides(tmp_path: Path):
    config = tmp_path / "crmwh.toml"
    config.write_text('source_url = "postgresql+psycopg://u@h/db"\n[mining]\nmin_support = 0.05\nmax_len = 4\n')
    env = {"CRMWH_DATA_DIR": str(tmp_path), "CRMWH_CONFIG": str(config), "CRMWH_MINING__MAX_LEN": "2"}
    s = load_settings(env)
    assert s.source_url == "postgresql+psycopg://u@h/db"
    assert s.mining.min_support == 0.05
    assert s.mining.max_len == 2  # environment beats the file
    s2 = load_settings(env, mining={"max_len": 5})
    assert s2.mining.max_len == 5  # explicit override beats both


def test_tuples_from_environment(tmp_path: Path):
    s = load_settings({"CRMWH_DATA_DIR": str(tmp_path), "CRMWH_CHURN__ABC_BANDS": "0.7, 0.95"})
    assert s.churn.abc_bands == (0.7, 0.95)


def test_unknown_or_mistyped_settings_are_clear_errors(tmp_path: Path):
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings({"CRMWH_DATA_DIR": str(tmp_path), "CRMWH_MINING__MIN_SUPORT": "0.1"})
    with pytest.raises(SettingsError, match="not a valid int"):
        load_settings({"CRMWH_DATA_DIR": str(tmp_path), "CRMWH_MINING__MAX_LEN": "three"})
    with pytest.raises(SettingsError, match="not a file"):
        load_settings({"CRMWH_CONFIG": str(tmp_path / "missing.toml")})
