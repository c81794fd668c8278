"""The published marts give the same rows whatever order DuckDB meets their input rows in.

Each test fills the production schema (``sql/ddl``) by hand with rows that tie, or whose DOUBLE sum
depends on the order it is added up in, inserts them in every order, and runs the production SQL on
one thread (so the insertion order is the order the aggregate sees). Before the fixes the tied
``arg_max`` picked whichever row came first, and ``avg``/``sum`` of DOUBLEs rounded to the published
places differently (two runs of the services demo published 231.24 and 231.25 hours).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
from churn_support import create_core_tables

from warehouse.analytics.churn_features import compute_features
from warehouse.foundation.db import read_sql

AS_OF = dt.date(2026, 1, 1)


def _in_every_order(tmp_path: Path, rows: Sequence[Any], insert: Callable[[duckdb.DuckDBPyConnection, Any], None],
                    query: Callable[[duckdb.DuckDBPyConnection], Any],
                    setup: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> set:
    """The distinct answers of ``query`` over the rows inserted in each of their orders (a fresh file each)."""
    answers = set()
    for n, order in enumerate(itertools.permutations(rows)):
        con = duckdb.connect(str(tmp_path / f"order{n}.duckdb"))
        con.execute("set threads = 1")
        create_core_tables(con)
        if setup is not None:
            setup(con)
        for row in order:
            insert(con, row)
        answers.add(query(con))
        con.close()
    return answers


def _contract(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""insert into core.fct_contract (contract_id, customer_key, customer_id, product_id,
                       service_category, start_date, end_date, billing_period, fee, annual_value, auto_renew,
                       chain_position, status, is_terminated_early)
                   values ('HT1', 1, 'C1', 'SV-TAX', 'tax_filing', '2025-01-01', '2025-12-31', 'monthly', 100, 1200,
                           false, 1, 'active', false)""")


def _filing(con: duckdb.DuckDBPyConnection, row: tuple[str, str]) -> None:
    step_id, completed = row
    con.execute("""insert into core.fct_service_step (step_id, customer_key, customer_id, is_filing, due_at,
                       completed_at, process, step_code)
                   values (?, 1, 'C1', true, timestamp '2025-11-15 23:59:59', ?::timestamp, 'tax', 'declare')""",
                [step_id, completed])


def test_days_late_of_the_last_filing_breaks_a_due_date_tie_by_step_id(tmp_path: Path) -> None:
    # two filings of the customer due at the same second: one on time, one 3 days late
    filings = [("ST1", "2025-11-14 10:00:00"), ("ST2", "2025-11-18 10:00:00")]
    params = {"as_of": AS_OF, "decision_days": 30, "window_days": 180, "grace_days": 30, "sla_hours": 24}

    def days_late(con: duckdb.DuckDBPyConnection) -> tuple:
        features = con.sql(read_sql("analytics/contract_renewal_features.sql"), params=params).pl()
        return tuple(features["days_late_last_filing"].to_list())

    assert _in_every_order(tmp_path, filings, _filing, days_late, setup=_contract) == {(3,)}  # ST2: the larger id


def _step(con: duckdb.DuckDBPyConnection, row: tuple[str, int]) -> None:
    step_id, seconds = row
    con.execute("""insert into core.fct_service_step (step_id, customer_key, customer_id, service_category, process,
                       step_number, step_code, agent_id, due_at, is_done, sla_met, days_late, hours_to_complete)
                   values (?, 1, 'C1', 'bookkeeping', 'bookkeeping', 1, 'ledger', 'E0001',
                           timestamp '2025-10-20 18:00:00', true, true, 0, ? / 3600.0)""", [step_id, seconds])


def test_service_sla_mean_hours_do_not_depend_on_the_summation_order(tmp_path: Path) -> None:
    # 1,041,841 + 1,007,772 + 475,589 seconds: a mean of exactly 233.815 hours, on the rounding boundary; as
    # DOUBLE hours the sum came out just above or just below it depending on the order (233.82 or 233.81)
    steps = [("S1", 1_041_841), ("S2", 1_007_772), ("S3", 475_589)]

    def mean_hours(con: duckdb.DuckDBPyConnection) -> tuple:
        return con.sql(read_sql("marts/service_sla.sql"), params={"as_of": AS_OF, "sla_hours": 24}).fetchall()[0][-1],

    answers = _in_every_order(tmp_path, steps, _step, mean_hours)
    assert answers == {(233.82,)}


def _sale(con: duckdb.DuckDBPyConnection, row: tuple[str, int]) -> None:
    line_id, product_key = row
    con.execute("""insert into core.fct_sales_line (sales_line_id, order_id, line_number, order_ts, customer_key,
                       customer_id, product_key, product_id, quantity, net_amount, is_return, is_cancelled, source)
                   values (?, 'SO1', ?, timestamp '2025-03-01 09:00:00', 1, 'C1', ?, 'P' || ?, 1, 500, false, false,
                           'test')""", [line_id, product_key, product_key, product_key])


def _annual_products(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""insert into core.dim_product (product_key, product_id, name, category, valid_from, is_current)
                   values (1, 'P1', 'Annual report (basic)', 'annual_report', '2020-01-01', true),
                          (2, 'P2', 'Annual report (premium)', 'annual_report', '2020-01-01', true)""")


def test_annual_report_reason_names_the_same_service_when_one_order_holds_two(tmp_path: Path) -> None:
    lines = [("SO1-1", 1), ("SO1-2", 2)]  # one order: both lines bought at the same time
    params = {"as_of": dt.datetime(2025, 5, 26), "event_from": dt.date(2025, 5, 26), "event_to": dt.date(2025, 7, 1),
              "deadline_month": 6, "deadline_day": 30, "categories": ["annual_report"], "holding_days": 400}

    def reason(con: duckdb.DuckDBPyConnection) -> tuple:
        return tuple(r[3] for r in con.sql(read_sql("marts/care/annual_report_deadline.sql"), params=params).fetchall())

    answers = _in_every_order(tmp_path, lines, _sale, reason, setup=_annual_products)
    assert len(answers) == 1 and "Annual report (premium) bought on 2025-03-01" in next(iter(answers))[0]


def _cohort_sale(con: duckdb.DuckDBPyConnection, row: tuple[str, str, str, str]) -> None:
    line_id, customer, when, amount = row
    con.execute("""insert into core.fct_sales_line (sales_line_id, order_id, line_number, order_ts, customer_key,
                       customer_id, product_key, product_id, quantity, net_amount, is_return, is_cancelled, source)
                   values (?, ?, 1, ?::timestamp, 1, ?, 1, 'P1', 1, ?::decimal(18, 2), false, false, 'test')""",
                [line_id, line_id, when, customer, amount])


def test_cohort_revenue_retained_does_not_depend_on_the_summation_order(tmp_path: Path) -> None:
    # the January cohort's first-month revenue is 17.01 + 14.15 + 0.84 = 32.00; February's 1.00 is 1/32 of it,
    # 0.03125, on the boundary of the 4 published places: as a sum of DOUBLEs the 32 is 32.00000000000001 when
    # 0.84 comes last (revenue_retained 0.0312 instead of 0.0313), and the order is the hash table's
    sales = [("A", "A", "2025-01-05 10:00:00", "17.01"), ("B", "B", "2025-01-06 10:00:00", "14.15"),
             ("C", "C", "2025-01-07 10:00:00", "0.84")]

    def february(con: duckdb.DuckDBPyConnection) -> tuple:
        _cohort_sale(con, ("D", "A", "2025-02-03 10:00:00", "1.00"))
        rows = con.sql(read_sql("marts/cohort_retention.sql"), params={"as_of": dt.date(2025, 3, 15)}).fetchall()
        return tuple(r for r in rows if r[1] == 1)

    answers = _in_every_order(tmp_path, sales, _cohort_sale, february)
    assert len(answers) == 1
    (row,) = next(iter(answers))
    assert row[5] == 1.0 and row[6] == 0.0313


def _ticket(con: duckdb.DuckDBPyConnection, row: tuple[str, int]) -> None:
    ticket_id, satisfaction = row
    con.execute("""insert into core.fct_service_ticket (ticket_id, customer_key, customer_id, ticket_type, channel,
                       opened_at, first_response_at, resolved_at, satisfaction)
                   values (?, 1, 'C1', 'inquiry', 'web', timestamp '2025-03-01 08:00:00',
                           timestamp '2025-03-01 09:00:00', timestamp '2025-03-02 08:00:00', ?)""",
                [ticket_id, satisfaction])


def _one_sale(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("insert into core.dim_product (product_key, product_id, category, valid_from, is_current) "
                "values (1, 'P1', 'X', '2020-01-01', true)")
    _cohort_sale(con, ("O1", "C1", "2025-02-01 10:00:00", "10.00"))


def test_last_satisfaction_breaks_a_resolution_time_tie_by_ticket_id(tmp_path: Path) -> None:
    tickets = [("TK1", 1), ("TK2", 5)]  # resolved at the same second

    def last_satisfaction(con: duckdb.DuckDBPyConnection) -> tuple:
        return tuple(compute_features(con, [dt.date(2025, 4, 1)])["last_satisfaction"].to_list())

    assert _in_every_order(tmp_path, tickets, _ticket, last_satisfaction, setup=_one_sale) == {(5,)}
