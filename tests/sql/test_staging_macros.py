"""The staging macros of ``sql/ddl/025_staging_macros.sql`` on a warehouse built by the production
migrations: ``staging.clean_text`` strips exactly its declared white space from both ends (and nothing
else), ``staging.utc_timestamp`` reads cleaned text with or without a zone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from warehouse.foundation.db import migrate

# the characters the macro's comment promises to strip: space, tab, LF, VT, FF, CR, NEL, no-break space,
# Ogham space, the U+2000..U+200A spaces, zero-width space, line/paragraph separators, narrow no-break,
# medium mathematical, ideographic space, BOM
STRIPPED = [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200C), 0x2028, 0x2029,
            0x202F, 0x205F, 0x3000, 0xFEFF]
# look alike but are content: zero-width non-joiner / joiner, word joiner, a letter, a dot, an emoji
KEPT = [0x200C, 0x200D, 0x2060, 0x41, 0x2E, 0x1F600]


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    path: Path = tmp_path_factory.mktemp("macros") / "crm.duckdb"
    connection = duckdb.connect(str(path))
    migrate(connection)
    yield connection
    connection.close()


def clean(con: duckdb.DuckDBPyConnection, values: list[str | None]) -> list[str | None]:
    rows = con.execute("select staging.clean_text(v) from (select unnest(?::varchar[]) as v, "
                       "generate_subscripts(?::varchar[], 1) as i) order by i", [values, values]).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("code", STRIPPED, ids=[f"U+{c:04X}" for c in STRIPPED])
def test_every_declared_space_is_stripped_at_both_ends_and_kept_inside(con: duckdb.DuckDBPyConnection,
                                                                        code: int) -> None:
    c = chr(code)
    assert clean(con, [f"{c}P2{c}", f"{c}{c}a{c}b{c}{c}", f"a{c}b", c, c * 3 + "x"]) == \
        ["P2", f"a{c}b", f"a{c}b", None, "x"]


@pytest.mark.parametrize("code", KEPT, ids=[f"U+{c:04X}" for c in KEPT])
def test_other_characters_are_content(con: duckdb.DuckDBPyConnection, code: int) -> None:
    c = chr(code)
    assert clean(con, [f"{c}P2{c}", f" {c} ", f"\t{c}x{c}\u00a0"]) == [f"{c}P2{c}", c, f"{c}x{c}"]


def test_plain_values_empty_and_null(con: duckdb.DuckDBPyConnection) -> None:
    assert clean(con, ["P2", "", "  ", None, "a b"]) == ["P2", None, None, None, "a b"]


def test_utc_timestamp_cleans_then_reads_the_zone(con: duckdb.DuckDBPyConnection) -> None:
    values = ["2025-01-01 10:00:00", "\u00a02025-01-01 10:00:00+02:00 ", " 2025-01-01T10:00:00Z\t", "soon"]
    rows = con.execute("select staging.utc_timestamp(v) from (select unnest(?::varchar[]) as v, "
                       "generate_subscripts(?::varchar[], 1) as i) order by i", [values, values]).fetchall()
    assert [r[0] for r in rows] == [dt.datetime(2025, 1, 1, 10), dt.datetime(2025, 1, 1, 8),
                                    dt.datetime(2025, 1, 1, 10), None]
