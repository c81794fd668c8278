"""SQL models that declare themselves (warehouse/core/model_spec.py) and the one writer (warehouse/core/models.py).

Every shipped model's header must match the production DDL; a new fact is one SQL file in a
(temporary) SQL dir, written by the generic writer with no Python of its own.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import duckdb
import pytest

from warehouse.core.model_spec import (
    ModelHeaderError,
    discover,
    discover_target,
    model_tables,
    parse_model,
    parse_write,
)
from warehouse.core.models import write_models, write_plain_models
from warehouse.foundation.db import migrate
from warehouse.foundation.run_relations import BY_NAME, create_run_relations
from warehouse.foundation.settings import SQL_DIR

CORE_MODELS = discover("core")


def _columns(con: duckdb.DuckDBPyConnection, qualified: str) -> set[str]:
    schema, table = qualified.split(".")
    return {r[0] for r in con.execute(
        "select column_name from duckdb_columns() where schema_name = ? and table_name = ?", [schema, table]).fetchall()}


def _body(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.startswith("--"))


@pytest.fixture(scope="module")
def migrated() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    migrate(con)
    return con


def test_every_core_sql_file_is_a_model() -> None:
    assert sorted(p.stem for p in (SQL_DIR / "core").glob("*.sql")) == sorted(m.path.stem for m in CORE_MODELS)


@pytest.mark.parametrize("model", CORE_MODELS, ids=lambda m: m.name)
def test_core_model_header_matches_the_ddl(migrated: duckdb.DuckDBPyConnection, model) -> None:
    columns = _columns(migrated, model.target)
    assert columns, f"{model.name}: {model.target} is not created by sql/ddl"
    if model.write.strategy == "upsert":
        assert model.write.key in columns
        assert set(model.write.hash_exclude) <= columns
    assert model.write.strategy in ("upsert", "scd2", "custom")
    for relation in model.run_relations:
        assert relation in BY_NAME, f"{model.name} reads {relation}, not declared in warehouse/foundation/run_relations.py"
        assert re.search(rf"\b{relation}\b", _body(model.sql)), f"{model.name} declares {relation} but does not read it"
    for table in model.tables:
        if table.startswith("staging."):  # staging tables are made by their own SQL in sql/staging
            assert (SQL_DIR / "staging" / f"{table.split('.')[1]}.sql").is_file(), table
        else:
            assert _columns(migrated, table), f"{model.name} reads {table}: not in sql/ddl"
        assert table in _body(model.sql), f"{model.name} declares {table} but does not read it"


def test_every_relation_a_model_reads_is_in_its_header() -> None:
    for model in [*CORE_MODELS, *discover("marts")]:
        for name in BY_NAME:
            if re.search(rf"\b{name}\b", _body(model.sql)):
                assert name in model.run_relations, f"{model.name} reads {name} without declaring it"


@pytest.mark.parametrize(("write", "message"), [
    ("merge", "write must start"), ("upsert", "needs key"), ("upsert key=id spec=x", "takes no option"),
    ("scd2", "needs spec"), ("replace key", "not name=value"),
])
def test_bad_write_is_refused(write: str, message: str) -> None:
    with pytest.raises(ModelHeaderError, match=message):
        parse_write(write)


def test_upsert_options() -> None:
    write = parse_write("upsert key=step_id hash_exclude=sla_met,days_late")
    assert (write.strategy, write.key, write.hash_exclude) == ("upsert", "step_id", ("sla_met", "days_late"))


def _doc_model() -> str:
    """The model of the walk-through in docs/ARCHITECTURE.md ("Adding a table"): the doc is what is tested."""
    doc = (SQL_DIR.parent / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = doc.split("### Adding a table", 1)[1]
    block = section.split("```sql", 1)[1].split("```", 1)[0]
    return textwrap.dedent(block).strip() + "\n"


NOTE_MODEL = _doc_model()


def _note_warehouse(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """A migrated warehouse with two versions of customer C1, and a SQL dir holding only the note model
    (no DDL declares core.fct_note)."""
    sql_dir = tmp_path / "sql"
    (sql_dir / "core").mkdir(parents=True)
    (sql_dir / "core" / "fct_note.sql").write_text(NOTE_MODEL, encoding="utf-8")
    con = duckdb.connect()
    migrate(con)
    con.execute("""insert into core.dim_customer (customer_key, customer_id, valid_from, valid_to, is_current)
                   values (1, 'C1', '2024-01-01', '2025-01-01', false), (2, 'C1', '2025-01-01', null, true)""")
    return con, sql_dir


def _stage_notes(con: duckdb.DuckDBPyConnection, sql_dir: Path, batch: str, rows: list[tuple]) -> list:
    """Stage the notes as one batch and write the plain models of the SQL dir; returns the writes."""
    con.execute("create table if not exists staging.stg_crm__notes (note_id varchar, customer_id varchar, "
                "noted_at timestamp, body varchar, is_deleted boolean, updated_at timestamp, _batch_id varchar)")
    con.executemany("insert into staging.stg_crm__notes values (?, ?, ?, ?, ?, ?, ?)", [(*r, batch) for r in rows])
    create_run_relations(con, "facts", [batch], reporting_currency="GBP")
    return write_plain_models(con, "core", handled=set(), sql_dir=sql_dir)


def test_adding_a_table_is_one_sql_file(tmp_path: Path) -> None:
    con, sql_dir = _note_warehouse(tmp_path)
    assert model_tables("core", "fct_", sql_dir) == ("fct_note",)  # its Asset comes from the header
    models = discover_target("core.fct_note", sql_dir)
    assert models[0].grain == "one row per note (latest version)"
    assert models[0].run_relations == ("_load_batches", "_customer_versions")
    create_run_relations(con, "facts", [], reporting_currency="GBP")
    assert write_models(con, models) is None  # its staging input does not exist yet: skipped

    written = _stage_notes(con, sql_dir, "b1", [("n1", "C1", "2024-06-01", "hello", False, "2025-02-01"),
                                       ("n2", "C1", "2025-06-01", "bye", False, "2025-02-01"),
                                       ("n3", "C9", "2025-06-01", "who", False, "2025-02-01")])
    assert [(w.target, w.strategy, w.rows) for w in written] == [("core.fct_note", "upsert", 3)]
    assert con.execute("select note_id, customer_key from core.fct_note order by 1").fetchall() == [
        ("n1", 1), ("n2", 2), ("n3", 0)]  # the version at the note's time; an unknown customer is 0

    written = _stage_notes(con, sql_dir, "b2", [("n1", "C1", "2024-06-01", "hello", False, "2025-02-02"),
                                       ("n2", "C1", "2025-06-01", "changed", False, "2025-02-02")])
    assert written[0].rows == 1  # only the changed note is rewritten
    _stage_notes(con, sql_dir, "b3", [("n1", "C1", "2024-06-01", "hello", True, "2025-02-03")])
    assert con.execute("select note_id, body from core.fct_note order by 1").fetchall() == [
        ("n2", "changed"), ("n3", "who")]


def test_an_undeclared_param_or_relation_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "sql" / "core" / "fct_bad.sql"
    bad.parent.mkdir(parents=True)
    bad.write_text(NOTE_MODEL.replace("is_deleted,", "is_deleted, $as_of as x,"), encoding="utf-8")
    with pytest.raises(ModelHeaderError, match="params declared"):
        parse_model(bad, tmp_path / "sql")
    bad.write_text(NOTE_MODEL.replace("-- write:", "-- nothing:"), encoding="utf-8")
    with pytest.raises(ModelHeaderError, match="lacks '-- write:'"):
        parse_model(bad, tmp_path / "sql")


def test_run_relations_fall_back_when_their_table_is_missing() -> None:
    con = duckdb.connect()
    migrate(con)
    with pytest.raises(ValueError, match="_load_settings needs reporting_currency"):
        create_run_relations(con, "load", ["b1", "b2"])
    create_run_relations(con, "load", ["b1", "b2"], reporting_currency="EUR")
    assert con.execute("select reporting_currency from _load_settings").fetchall() == [("EUR",)]
    assert sorted(r[0] for r in con.execute("select batch_id from _load_batches").fetchall()) == ["b1", "b2"]
    assert con.execute("select count(*) from _crm_contract_ids").fetchall() == [(0,)]
    create_run_relations(con, "stage", ["s1"])
    assert con.execute("select batch_id from _stage_batches").fetchall() == [("s1",)]
