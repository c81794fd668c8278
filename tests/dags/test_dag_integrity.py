"""Every DAG file imports cleanly through Airflow's DagBag and carries what operators need."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from warehouse.foundation.settings import DAGS_DIR

DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_there_are_dag_files() -> None:
    assert DAG_FILES, f"no DAG files in {DAGS_DIR}"


def test_every_dag_file_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}, dagbag.import_errors
    assert len(dagbag.dags) >= len(DAG_FILES)


def test_every_dag_has_owner_tags_retries_and_docs(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and dag.doc_md.strip(), f"{dag_id} has no documentation (docstring as doc_md)"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_importing_dags_does_no_database_or_network_work(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    """Parse every DAG file with sockets and database drivers booby-trapped."""
    import importlib.util
    import sqlite3

    import airflow.sdk  # noqa: F401 - Airflow's own start-up is not the DAG files' doing
    import duckdb

    def refuse(*args, **kwargs):
        raise AssertionError("a DAG file touched the network or a database at import time")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(duckdb, "connect", refuse)
    monkeypatch.setattr(sqlite3, "connect", refuse)
    import sqlalchemy

    monkeypatch.setattr(sqlalchemy, "create_engine", refuse)
    for path in DAG_FILES:
        spec = importlib.util.spec_from_file_location(f"dagcheck_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
