-- grain: one row per customer per annual-report deadline in [$event_from, $event_to] for customers who bought
-- one of the rule's categories in the $holding_days before the scan and have not filed that year's report yet
-- inputs: core.fct_sales_line, core.dim_product, core.fct_service_step
-- write: appended to _care_events by warehouse/analytics/care.py
-- service_name: the service of the latest purchase; lines of one order share its time, the line id breaks the tie
with deadlines as (
    select make_date(y::integer, $deadline_month::integer, $deadline_day::integer) as deadline
    from (select unnest(range(year($event_from::date), year($event_to::date) + 1)) as y)
),

due as (
    select deadline from deadlines where deadline between $event_from::date and $event_to::date
),

buyers as (
    select
        s.customer_id, max(s.order_ts) as last_bought, arg_max(p.name, (s.order_ts, s.sales_line_id)) as service_name,
        sum(s.net_amount)::double as value
    from core.fct_sales_line s
    join core.dim_product p on p.product_key = s.product_key
    where p.category in (select unnest($categories::varchar[])) and s.customer_id is not null
      and s.order_ts >= $as_of::timestamp - to_days($holding_days::integer) and s.order_ts < $as_of::timestamp
      and not s.is_cancelled and not s.is_return
    group by all
),

filed as (
    select distinct customer_id, year(completed_at) as year
    from core.fct_service_step
    where is_filing and service_category in (select unnest($categories::varchar[]))
      and completed_at < $as_of::timestamp
)

select
    b.customer_id, b.customer_id || ':' || year(d.deadline) as subject_id, d.deadline as event_date,
    'annual report due by ' || strftime(d.deadline, '%Y-%m-%d') || ' (' || b.service_name || ' bought on '
        || strftime(b.last_bought, '%Y-%m-%d') || '; not filed for ' || year(d.deadline) || ' yet)' as reason,
    b.value as value_at_stake, null::varchar as contract_owner_id, null::varchar as ticket_agent_id
from buyers b
cross join due d
where not exists (select 1 from filed f where f.customer_id = b.customer_id and f.year = year(d.deadline))
