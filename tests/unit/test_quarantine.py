import duckdb
import pytest

from warehouse.ingest.quarantine import checked_identifier, quarantine_from, quarantined_count


def test_moves_rows_with_rules_and_reason_and_keeps_the_rest():
    con = duckdb.connect()
    con.execute("create schema staging; create schema quarantine")
    con.execute("""create table staging.stg_t as select * from (values
        ('b1', 1, '{"q":"1"}', 1), ('b1', 2, '{"q":"0"}', 0), ('b2', 2, '{"q":"0"}', 0)
    ) v(_batch_id, _source_row, _raw, q)""")
    moved = quarantine_from(con, "stg_t", "b1",
                            "select _source_row, ['quantity_not_zero'] as rules, 'quantity is 0' as reason "
                            "from staging.stg_t where _batch_id = 'b1' and q = 0")
    assert moved == 1
    assert con.execute("select _batch_id, _source_row from staging.stg_t order by all").fetchall() == [
        ("b1", 1), ("b2", 2)]
    row = con.execute("select raw_record, rules, reason from quarantine.stg_t").fetchone()
    assert row == ('{"q":"0"}', ["quantity_not_zero"], "quantity is 0")
    assert quarantined_count(con, "stg_t", "b1") == 1
    assert quarantined_count(con, "stg_t", "b2") == 0


@pytest.mark.parametrize("bad", ["x; drop table y", "Stg", "a b", "t--", ""])
def test_identifiers_from_outside_are_refused(bad):
    with pytest.raises(ValueError):
        checked_identifier(bad)
