-- grain: one row per complaint ticket resolved in [$event_from, $event_to] and before the scan ($as_of)
-- inputs: core.fct_service_ticket, core.dim_employee, _care_customer_value
-- write: appended to _care_events by warehouse/analytics/care.py
select
    t.customer_id, t.ticket_id as subject_id, t.resolved_at::date as event_date,
    'complaint ' || t.ticket_id || ' resolved on ' || strftime(t.resolved_at, '%Y-%m-%d') || ' after '
        || round(coalesce(t.resolution_hours, 0))::integer || ' hours'
        || coalesce('; satisfaction ' || t.satisfaction || '/5', '; no satisfaction answer') as reason,
    v.value_365d as value_at_stake, null::varchar as contract_owner_id, e.employee_id as ticket_agent_id
from core.fct_service_ticket t
left join core.dim_employee e on e.employee_key = t.agent_key
left join _care_customer_value v on v.customer_id = t.customer_id
where t.ticket_type = 'complaint' and t.customer_id is not null and t.resolved_at is not null
  and t.resolved_at < $as_of::timestamp and t.resolved_at::date between $event_from::date and $event_to::date
  and t.resolved_at >= t.opened_at
