from pathlib import Path

import pytest

from warehouse.foundation.settings import SettingsError, load_settings


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


def test_unknown_keys_are_refused_in_the_file_and_the_environment(tmp_path: Path):
    config = tmp_path / "crmwh.toml"
    env = {"CRMWH_DATA_DIR": str(tmp_path), "CRMWH_CONFIG": str(config)}
    for text, message in [("data_dri = 'x'\n", "unknown setting(s) data_dri"),
                          ("[mining]\nmin_suport = 0.1\n", "unknown setting(s) mining.min_suport"),
                          ("mining = 3\n", "setting mining must be a table"),
                          ("[mining]\nmax_len = 1.5\n", "setting mining.max_len=1.5 is not a valid int")]:
        config.write_text(text)
        with pytest.raises(SettingsError, match=r"^" + message.replace("(", r"\(").replace(")", r"\)")):
            load_settings(env)
    env = {"CRMWH_DATA_DIR": str(tmp_path / "data")}  # no crmwh.toml in it
    with pytest.raises(SettingsError, match=r"^unknown setting\(s\) minning$"):
        load_settings({**env, "CRMWH_MINNING__MAX_LEN": "2"})
    with pytest.raises(SettingsError, match="^setting mining must be a table$"):
        load_settings({**env, "CRMWH_MINING": "max_len=2"})
    with pytest.raises(SettingsError, match="validation.data_docs_enabled='maybe' is not a valid bool"):
        load_settings({**env, "CRMWH_VALIDATION__DATA_DOCS_ENABLED": "maybe"})
    with pytest.raises(SettingsError, match="churn.abc_bands=.* is not a valid tuple"):
        load_settings({**env, "CRMWH_CHURN__ABC_BANDS": "0.7"})
    # the variables that are not settings
    load_settings({**env, "CRMWH_DEBUG": "1", "CRMWH_TEST_PG_URL": "postgresql://x"})


def test_file_values_keep_their_meaning(tmp_path: Path):
    config = tmp_path / "crmwh.toml"
    config.write_text("landing_dir = ''\n[demo]\nend_date = 2024-06-30\n[churn]\nabc_bands = [0.5, 0.6]\n")
    s = load_settings({"CRMWH_DATA_DIR": str(tmp_path), "CRMWH_CONFIG": str(config)})
    assert s.demo.end_date == "2024-06-30"  # a TOML date for a text setting is its ISO text
    assert s.churn.abc_bands == (0.5, 0.6)
    assert s.landing_dir == tmp_path.resolve() / "landing"  # empty = derived from the data directory


def test_settings_are_frozen_and_copied_with_changes(tmp_path: Path):
    from pydantic import ValidationError

    from warehouse.foundation.settings import replace_settings

    s = load_settings({"CRMWH_DATA_DIR": str(tmp_path)})
    with pytest.raises(ValidationError):
        s.mining.max_len = 9  # type: ignore[misc]
    changed = replace_settings(s, mining={"engine": "spark"})
    assert changed.mining.engine == "spark" and changed.mining.max_len == s.mining.max_len
    assert changed.data_dir == s.data_dir and s.mining.engine == "mlxtend"
    assert changed == s.model_copy(update={"mining": s.mining.model_copy(update={"engine": "spark"})})
    assert hash(changed.mining) != hash(s.mining)  # groups are hashable (cache keys)
    with pytest.raises(SettingsError, match="mining.max_len='x' is not a valid int"):
        replace_settings(s, mining={"max_len": "x"})
