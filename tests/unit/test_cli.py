import subprocess
import sys

from warehouse.cli import build_parser, main


def test_every_command_module_registers():
    parser = build_parser()
    text = parser.format_help()
    assert "airflow" in text


def test_unknown_command_exits_with_usage_not_traceback():
    proc = subprocess.run([sys.executable, "-m", "warehouse.cli", "no-such-command"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_settings_errors_are_one_line(monkeypatch, capsys, tmp_path):
    from warehouse.foundation.settings import get_settings

    monkeypatch.setenv("CRMWH_CONFIG", str(tmp_path / "nope.toml"))
    get_settings.cache_clear()
    try:
        code = main(["airflow", "version"])
    finally:
        get_settings.cache_clear()
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("crmwh: error:") and "not a file" in err


def test_airflow_home_and_data_dir_always_come_from_the_settings(tmp_path):
    from warehouse.foundation.settings import load_settings
    from warehouse.ops.airflow_env import airflow_environment

    settings = load_settings({"CRMWH_DATA_DIR": str(tmp_path)})
    env = airflow_environment(settings, {"AIRFLOW_HOME": "/elsewhere", "CRMWH_DATA_DIR": "/other",
                                         "AIRFLOW__CORE__PARALLELISM": "3"})
    assert env["AIRFLOW_HOME"] == str(settings.airflow_home)
    assert env["CRMWH_DATA_DIR"] == str(settings.data_dir)
    assert env["AIRFLOW__CORE__PARALLELISM"] == "3"  # the caller's Airflow options win
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{settings.airflow_home / 'airflow.db'}"
