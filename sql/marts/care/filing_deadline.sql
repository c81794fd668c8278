-- grain: one row per customer per statutory filing deadline in [$event_from, $event_to] for customers holding
-- a contract of the rule's process categories (in force on the deadline, or ended less than a month before it)
-- inputs: core.fct_contract, core.fct_service_step
-- write: appended to _care_events by warehouse/analytics/care.py
with deadlines as (
    select make_date(year(m), month(m), $deadline_day::integer) as deadline
    from (select unnest(generate_series(date_trunc('month', $event_from::date)::timestamp,
                                        date_trunc('month', $event_to::date)::timestamp, interval 1 month)) as m)
),

due as (
    select deadline from deadlines where deadline between $event_from::date and $event_to::date
),

holders as (
    select k.customer_id, k.contract_id, k.owner_rep_id, k.annual_value, d.deadline
    from core.fct_contract k
    join due d on k.start_date <= d.deadline and k.effective_end_date >= d.deadline - interval 31 day
    where k.service_category in (select unnest($categories::varchar[]))
      and k.signed_at < $as_of::timestamp and (k.terminated_at is null or k.terminated_at >= $as_of::date)
      and k.customer_id is not null
),

late as (
    select customer_id, count(*) as late_filings
    from core.fct_service_step
    where is_filing and due_at >= $as_of::timestamp - interval 180 day and due_at < $as_of::timestamp
      and (completed_at is null or completed_at > due_at)
    group by all
)

select
    h.customer_id, h.contract_id as subject_id, h.deadline as event_date,
    $process_name || ' due on ' || strftime(h.deadline, '%Y-%m-%d') || ' (contract ' || h.contract_id || ')'
        || case when coalesce(l.late_filings, 0) > 0
                then '; ' || l.late_filings || ' late filing(s) in the last 6 months' else '' end as reason,
    h.annual_value::double as value_at_stake, h.owner_rep_id as contract_owner_id, null::varchar as ticket_agent_id
from holders h
left join late l on l.customer_id = h.customer_id
qualify row_number() over (partition by h.customer_id, h.deadline order by h.contract_id) = 1
