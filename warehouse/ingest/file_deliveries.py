"""Re-delivered files: a new version of a delivery replaces exactly the lines its earlier versions delivered.

A file drop's lines are keyed by what they are, not by the file they came in
(``<profile>:<order>:<line number>`` when the file numbers its lines, else
``<profile>:<order>:h<hash of the line's content>``): an order split over two files keeps the lines of
both, and the same line delivered twice is one line. A *delivery* is a file's name in the landing
folder; new content under a delivery already loaded is its corrected version, and means "this is now
the whole truth of this file":

- lines of the new version are upserted (a changed line replaces its old version: same key);
- lines an earlier version delivered that the new one no longer holds are removed from
  ``core.fct_sales_line`` - unless the current version of *another* delivery still holds them;
- a line the new version holds but validation quarantines keeps its last loaded version (as a
  quarantined CRM update does); lines the new version holds are never removed, quarantined or not.

Runs inside the facts transaction (:func:`warehouse.core.load.load_facts_in`), before the batches close.
"""

from __future__ import annotations

import duckdb

from warehouse.foundation.db import table_exists


def replace_redelivered_lines(con: duckdb.DuckDBPyConnection) -> int:
    """Remove the lines the loaded batches' deliveries no longer hold; returns the lines removed."""
    if not table_exists(con, "staging.stg_files__line_keys"):
        return 0
    con.execute("""
        create or replace temp table _redelivered as
        select n.batch_id as new_batch, e.batch_id as old_batch, n.delivery, n.profile
        from audit.load_batches n
        join audit.load_batches e
          on e.source_kind = 'file' and e.delivery = n.delivery and e.profile = n.profile
         and e.status = 'succeeded' and e.batch_id <> n.batch_id
        where n.batch_id in (select batch_id from _load_batches) and n.source_kind = 'file'
          and n.delivery is not null
    """)
    if not con.execute("select count(*) from _redelivered").fetchone()[0]:
        return 0
    con.execute("""
        create or replace temp table _gone_lines as
        with current_versions as (  -- the latest loaded version of every delivery, and the batches now loading
            select batch_id from (
                select batch_id, row_number() over (partition by delivery, profile
                                                    order by started_at desc, batch_id desc) as rn
                from audit.load_batches
                where source_kind = 'file' and delivery is not null and status = 'succeeded')
            where rn = 1 and batch_id not in (select old_batch from _redelivered)
            union select batch_id from _load_batches
        )
        select distinct k.sales_line_id, r.new_batch
        from staging.stg_files__line_keys k join _redelivered r on k._batch_id = r.old_batch
        where k.sales_line_id is not null
          and k.sales_line_id not in (select sales_line_id from staging.stg_files__line_keys
                                      where _batch_id in (select batch_id from current_versions)
                                        and sales_line_id is not null)
    """)
    removed = con.execute("""delete from core.fct_sales_line where sales_line_id in (select sales_line_id from _gone_lines)
                             and source like 'file:%'""").fetchone()
    count = int(removed[0]) if removed else 0
    for new_batch, old, n in con.execute("""
            select r.new_batch, string_agg(distinct r.old_batch, ', '), count(distinct g.sales_line_id)
            from _redelivered r left join _gone_lines g on g.new_batch = r.new_batch group by r.new_batch""").fetchall():
        note = f"re-delivery: replaces batch(es) {old}, {n} line(s) no longer delivered removed from core"
        con.execute("update audit.load_batches set notes = concat_ws('; ', notes, ?) where batch_id = ?",
                    [note, new_batch])
    con.execute("drop table if exists _gone_lines")
    con.execute("drop table if exists _redelivered")
    return count
