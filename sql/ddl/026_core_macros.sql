-- Macros of the core SQL models (sql/core).
--
-- core.valid_at(ts, valid_from, valid_to): the event time ts falls in a type-2 version's range
-- [valid_from, valid_to) as the run relations _customer_versions / _product_versions give it (the first
-- version widened to -infinity, the open one to +infinity); a NULL event time takes the first version.
-- The one definition of the range test every SQL model joins its versions with (the same condition as
-- warehouse.core.core_writes.version_lookup): `left join _customer_versions c on c.customer_id = n.customer_id
-- and core.valid_at(n.opened_at, c._valid_from, c._valid_to)`, then coalesce(c.customer_key, 0).
create or replace macro core.valid_at(ts, valid_from, valid_to) as (
    coalesce(ts::timestamp, '-infinity'::timestamp) >= valid_from
    and coalesce(ts::timestamp, '-infinity'::timestamp) < valid_to);

-- core.date_key(ts): the dim_date key (yyyymmdd INTEGER) of a date or timestamp.
create or replace macro core.date_key(ts) as ((year(ts) * 10000 + month(ts) * 100 + day(ts))::integer);
