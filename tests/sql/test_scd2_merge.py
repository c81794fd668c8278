"""The type-2 merge on a temp DuckDB file: versions arriving out of order (backfill) land in place."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from warehouse.core.load import refresh_fact_keys
from warehouse.core.scd2 import CUSTOMER, merge_scd2
from warehouse.foundation.db import migrate

T = [datetime(2024, 1, d) for d in range(1, 10)]


def _version(customer: str, segment: str, ts: datetime, created: datetime = T[0], email: str = "a@x") -> dict:
    return {"customer_id": customer, "source": "crm", "name": customer, "email": email, "phone": None,
            "city": "Leeds", "region": "North", "segment": segment, "acquisition_channel": "web",
            "status": "active", "sales_rep_id": "E0001", "signup_date": None, "is_deleted": False,
            "_src_id": 1, "_created_at": created, "_updated_at": ts, "_batch_id": f"b{ts.day}"}


def _merge(con: duckdb.DuckDBPyConnection, versions: list[dict]) -> None:
    cols = list(versions[0])
    con.execute("create or replace temp table _in as select * from core.dim_customer limit 0")
    con.execute(f"create or replace temp table _incoming as select {', '.join(cols)} from _in")
    con.executemany(f"insert into _incoming values ({', '.join('?' for _ in cols)})",
                    [[v[c] for c in cols] for v in versions])
    merge_scd2(con, CUSTOMER, "_incoming")


def _history(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("select customer_id, segment, valid_from, valid_to, is_current, email "
                       "from core.dim_customer order by customer_id, valid_from").fetchall()


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(connection)
    yield connection
    connection.close()


def test_versions_in_order_make_closed_and_current_rows(con) -> None:
    _merge(con, [_version("C1", "consumer", T[1])])
    _merge(con, [_version("C1", "vip", T[4], email="b@x")])
    assert _history(con) == [
        ("C1", "consumer", T[0], T[4], False, "b@x"),  # first version valid from created_at
        ("C1", "vip", T[4], None, True, "b@x"),  # type-1 e-mail written on every version
    ]


def test_out_of_order_backfill_gives_the_same_history_and_keeps_keys(con, tmp_path: Path) -> None:
    in_order = duckdb.connect(str(tmp_path / "ordered.duckdb"))
    migrate(in_order)
    versions = [_version("C1", "consumer", T[1]), _version("C1", "vip", T[4]), _version("C1", "corporate", T[7])]
    for v in versions:
        _merge(in_order, [v])
    _merge(con, [versions[2]])
    key_before = con.execute("select customer_key from core.dim_customer").fetchone()[0]
    _merge(con, [versions[0]])  # an older version arrives later (backfill)
    _merge(con, [versions[1]])
    assert _history(con) == _history(in_order)
    assert key_before in {r[0] for r in con.execute("select customer_key from core.dim_customer").fetchall()}
    in_order.close()


def test_unchanged_tracked_attributes_and_repeats_add_no_version(con) -> None:
    _merge(con, [_version("C1", "consumer", T[1])])
    before = con.execute("select * from core.dim_customer").fetchall()
    _merge(con, [_version("C1", "consumer", T[1])])  # the same version again (overlap, rerun)
    assert con.execute("select * from core.dim_customer").fetchall() == before
    _merge(con, [_version("C1", "consumer", T[3], email="new@x")])  # only a type-1 change
    rows = _history(con)
    assert len(rows) == 1 and rows[0][5] == "new@x" and rows[0][4] is True


def test_several_versions_in_one_batch_and_several_customers(con) -> None:
    _merge(con, [_version("C1", "consumer", T[1]), _version("C1", "vip", T[2]), _version("C2", "vip", T[2])])
    rows = _history(con)
    assert [(r[0], r[1], r[4]) for r in rows] == [("C1", "consumer", False), ("C1", "vip", True),
                                                  ("C2", "vip", True)]
    keys = [r[0] for r in con.execute("select customer_key from core.dim_customer").fetchall()]
    assert len(set(keys)) == 3


# --- re-pointing the facts after a merge (refresh_fact_keys) ------------------------------------------

def _fact(con: duckdb.DuckDBPyConnection, line: str, customer: str, ts: datetime, key: int) -> None:
    con.execute("insert into core.fct_sales_line (sales_line_id, order_id, order_ts, customer_key, customer_id, "
                "is_return, is_cancelled, source) values (?, ?, ?, ?, ?, false, false, 'crm')",
                [line, f"o-{line}", ts, key, customer])


def _merge_and_refresh(con: duckdb.DuckDBPyConnection, versions: list[dict]) -> None:
    _merge(con, versions)
    refresh_fact_keys(con, CUSTOMER.table, CUSTOMER.key, CUSTOMER.business_id)


def _fact_keys(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(con.execute("select sales_line_id, customer_key from core.fct_sales_line").fetchall())


def _key_at(con: duckdb.DuckDBPyConnection, customer: str, ts: datetime) -> int:
    return con.execute("select customer_key from core.dim_customer where customer_id = ? and valid_from <= ? "
                       "order by valid_from desc limit 1", [customer, ts]).fetchone()[0]


def test_a_version_after_every_fact_moves_no_fact(con) -> None:
    _merge(con, [_version("C1", "consumer", T[1])])
    first = _key_at(con, "C1", T[1])
    _fact(con, "l1", "C1", T[2], first)
    _merge_and_refresh(con, [_version("C1", "vip", T[5])])
    assert _fact_keys(con) == {"l1": first}


def test_a_back_dated_version_re_points_the_facts_after_it(con) -> None:
    _merge(con, [_version("C1", "consumer", T[1])])
    first = _key_at(con, "C1", T[1])
    _fact(con, "l1", "C1", T[2], first)
    _fact(con, "l2", "C1", T[6], first)
    _merge_and_refresh(con, [_version("C1", "vip", T[4])])
    assert _fact_keys(con) == {"l1": first, "l2": _key_at(con, "C1", T[6])} and _key_at(con, "C1", T[6]) != first


def test_a_customer_arriving_after_its_facts_takes_them_from_the_unknown_member(con) -> None:
    _merge(con, [_version("C0", "consumer", T[1])])  # another customer: the dimension is not empty
    _fact(con, "l1", "C1", T[2], 0)  # loaded before its customer: the unknown member
    _merge_and_refresh(con, [_version("C1", "consumer", T[5], created=T[5])])
    assert _fact_keys(con) == {"l1": _key_at(con, "C1", T[5])}


def test_an_older_first_version_arriving_later_re_points_the_facts_before_the_old_first(con) -> None:
    _merge(con, [_version("C1", "vip", T[5], created=T[5])])
    later = _key_at(con, "C1", T[5])
    _fact(con, "l1", "C1", T[2], later)  # before the first version: widened to it
    _merge_and_refresh(con, [_version("C1", "consumer", T[1], created=T[1])])
    assert _fact_keys(con) == {"l1": _key_at(con, "C1", T[2])} and _key_at(con, "C1", T[2]) != later


def _since(con: duckdb.DuckDBPyConnection) -> datetime | str:
    value = con.execute("select since::varchar from _scd_since").fetchone()[0]
    return value if value in ("infinity", "-infinity") else datetime.fromisoformat(value)


def test_the_merge_says_from_when_the_versions_moved(con) -> None:
    _merge(con, [_version("C1", "consumer", T[1])])
    assert _since(con) == "-infinity"  # a new customer: its facts may hold the unknown member
    _merge(con, [_version("C1", "consumer", T[1])])
    assert _since(con) == "infinity"  # the same version read again (the overlap window): nothing moved
    _merge(con, [_version("C1", "consumer", T[3], email="new@x")])
    assert _since(con) == "infinity"  # a type-1 change: no range moved
    _merge(con, [_version("C1", "vip", T[5])])
    assert _since(con) == T[5]
    _merge(con, [_version("C1", "corporate", T[0])])
    assert _since(con) == "-infinity"  # before the first version: every earlier fact is the first's
