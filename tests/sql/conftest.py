"""Fixtures shared by the SQL tests: the hand-made services source loaded once per session."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SERVICES_AS_OF = dt.date(2026, 1, 1)


@pytest.fixture(scope="session")
def services_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/services_support.py's source loaded through the pipeline, the services marts built as of
    SERVICES_AS_OF. Read it, or copy it (shutil.copytree) before writing."""
    from services_support import load_services_template

    from warehouse.db import warehouse_writer
    from warehouse.services_marts import build_services_marts
    from warehouse.settings import load_settings

    directory = tmp_path_factory.mktemp("services") / "data"
    directory.mkdir()
    load_services_template(directory)
    settings = load_settings({"CRMWH_DATA_DIR": str(directory), "CRMWH_SERVICES__BOOTSTRAP_SAMPLES": "50"})
    with warehouse_writer(settings) as con:
        build_services_marts(con, settings, SERVICES_AS_OF)
    return directory
