-- grain: one row per customer whose signup anniversary (one year or more) falls in [$event_from, $event_to] and
-- who is an active, not deleted customer at the scan ($as_of); 29 February anniversaries fall on the 28th
-- inputs: core.dim_customer, _care_customer_value
-- write: appended to _care_events by warehouse/analytics/care.py
with customers as (
    select customer_id, signup_date from core.dim_customer
    where customer_key <> 0 and valid_from <= $as_of::timestamp
      and (valid_to is null or valid_to > $as_of::timestamp)
      and not is_deleted and coalesce(status, 'active') = 'active' and signup_date < $as_of::date
),

years as (
    select unnest(range(year($event_from::date), year($event_to::date) + 1))::integer as y
),

anniversaries as (
    select
        c.customer_id, y.y - year(c.signup_date) as years,
        make_date(y.y, month(c.signup_date),
                  least(day(c.signup_date), day(last_day(make_date(y.y, month(c.signup_date), 1))))) as anniversary
    from customers c cross join years y
)

select
    a.customer_id, a.customer_id || ':' || year(a.anniversary) as subject_id, a.anniversary as event_date,
    a.years || case when a.years % 100 between 11 and 13 then 'th' when a.years % 10 = 1 then 'st'
                    when a.years % 10 = 2 then 'nd' when a.years % 10 = 3 then 'rd' else 'th' end
        || ' anniversary as a customer on ' || strftime(a.anniversary, '%Y-%m-%d') as reason,
    v.value_365d as value_at_stake, null::varchar as contract_owner_id, null::varchar as ticket_agent_id
from anniversaries a
left join _care_customer_value v on v.customer_id = a.customer_id
where a.years >= 1 and a.anniversary between $event_from::date and $event_to::date
