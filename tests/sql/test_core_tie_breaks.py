"""Core facts that pick one row of several (the first opportunity of a lead, the first amount of an
opportunity, the contract renewing another) pick the same one whatever order the staged rows are in.

Each test copies the hand-made services warehouse (tests/services_support.py, loaded through the
pipeline), stages a second row that ties with an existing one on the ordering column, puts the two in
both orders, and runs the production model SQL on one thread (the aggregate sees the rows in table
order). Before the id tie-breaks, ``arg_min`` kept whichever tied row came first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from warehouse.foundation.db import read_sql
from warehouse.foundation.run_relations import create_run_relations


def _staged_in_order(template: Path, path: Path, table: str, where: str, replace: str, new_first: bool
                     ) -> duckdb.DuckDBPyConnection:
    """A copy of the warehouse whose ``staging.<table>`` holds, besides its rows, a copy of the row(s)
    ``where`` selects with ``replace`` applied: first when ``new_first``, else last."""
    shutil.copy(template / "warehouse" / "crm.duckdb", path)
    con = duckdb.connect(str(path))
    con.execute("set threads = 1")
    con.execute(f"create temp table _tied as select * replace ({replace}) from staging.{table} where {where}")
    assert con.execute("select count(*) from _tied").fetchone()[0] == 1
    con.execute(f"create temp table _rows as select * from staging.{table}")
    parts = ("_tied", "_rows") if new_first else ("_rows", "_tied")
    con.execute(f"create or replace table staging.{table} as select * from {parts[0]} union all select * from {parts[1]}")
    batches = [r[0] for r in con.execute("select batch_id from audit.load_batches where status = 'succeeded'").fetchall()]
    create_run_relations(con, "facts", batches, reporting_currency="CNY")
    return con


def _answers(template: Path, tmp_path: Path, table: str, where: str, replace: str, model: str, select: str) -> set:
    answers = set()
    for new_first in (False, True):
        con = _staged_in_order(template, tmp_path / f"{model}_{new_first}.duckdb", table, where, replace, new_first)
        con.execute(f"create temp view _model as {read_sql(f'core/{model}.sql')}")
        answers.add(tuple(con.execute(select).fetchall()))
        con.close()
    return answers


@pytest.fixture(scope="module")
def template(services_template: Path) -> Path:
    return services_template


def test_a_lead_with_two_opportunities_created_together_takes_the_smaller_code(template: Path, tmp_path: Path
                                                                                ) -> None:
    # a second opportunity of OP0000001's lead, created at the same second, numbered below it
    answers = _answers(template, tmp_path, "stg_crm__opportunities", "opportunity_code = 'OP0000001'",
                       "opportunity_id + 1000 as opportunity_id, 'OP0000000' as opportunity_code",
                       "fct_lead", "select opportunity_id from _model where opportunity_id in ('OP0000000', 'OP0000001')")
    assert answers == {(("OP0000000",),)}


def test_an_opportunitys_first_amount_breaks_a_change_time_tie_by_stage_change_id(template: Path, tmp_path: Path
                                                                                   ) -> None:
    # OP0000001's first stage change again, at the same second, with another amount and a larger change id
    first = ("stage_change_id = (select min(stage_change_id) from staging.stg_crm__opportunity_stage_history "
             "where opportunity_id = (select opportunity_id from staging.stg_crm__opportunities "
             "where opportunity_code = 'OP0000001' limit 1))")
    answers = _answers(template, tmp_path, "stg_crm__opportunity_stage_history", first,
                       "stage_change_id + 1000 as stage_change_id, amount + 1 as amount",
                       "fct_opportunity", "select first_amount from _model where opportunity_id = 'OP0000001'")
    assert len(answers) == 1
    con = duckdb.connect(str(template / "warehouse" / "crm.duckdb"), read_only=True)
    assert answers == {tuple(con.execute(
        "select first_amount from core.fct_opportunity where opportunity_id = 'OP0000001'").fetchall())}
    con.close()


def test_a_contract_renewed_twice_on_the_same_day_names_the_smaller_number(template: Path, tmp_path: Path) -> None:
    # HT00000002 renews HT00000001; a second renewal starting the same day, numbered below it
    answers = _answers(template, tmp_path, "stg_crm__contracts", "contract_number = 'HT00000002'",
                       "contract_id + 1000 as contract_id, 'HT00000000' as contract_number",
                       "fct_contract", "select renewed_by_contract_id from _model where contract_id = 'HT00000001'")
    assert answers == {(("HT00000000",),)}
