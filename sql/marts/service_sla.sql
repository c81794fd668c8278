-- model: marts.service_sla
-- grain: one row per due month per service per process step per agent (steps due before $as_of), plus the
--   tickets' first-response SLA (service 'customer_service', step 'first_response') per opened month per
--   agent
-- inputs: core.fct_service_step, core.dim_service_step, core.fct_service_ticket, core.dim_employee
-- write: replace
-- params: as_of, sla_hours
-- A step is due in the month of its due date; met = done by its due time, missed = done late or still open
-- past it (as of the latest load); attainment = met / (met + missed). A ticket's first response is due
-- $sla_hours hours after it was opened (settings.validation.first_response_sla_hours).
with steps as (
    select
        date_trunc('month', s.due_at)::date as month,
        coalesce(s.service_category, '(unknown)') as service, s.process, s.step_code,
        coalesce(d.step_name, s.step_code) as step_name, coalesce(d.step_number, s.step_number) as step_number,
        coalesce(s.agent_id, '(unassigned)') as agent_id, s.is_done, s.sla_met, s.days_late, s.hours_to_complete
    from core.fct_service_step s
    left join core.dim_service_step d on d.process = s.process and d.step_code = s.step_code
    where s.due_at < $as_of::timestamp
),

tickets as (
    select
        date_trunc('month', t.opened_at)::date as month, 'customer_service' as service, 'ticket' as process,
        'first_response' as step_code, 'First response within ' || $sla_hours::integer || ' hours' as step_name,
        1 as step_number, coalesce(e.employee_id, '(unassigned)') as agent_id,
        t.first_response_at is not null as is_done, not t.sla_breached as sla_met,
        case when t.sla_breached
             then ceil((coalesce(t.first_response_hours,
                                 date_diff('second', t.opened_at, $as_of::timestamp) / 3600.0) - $sla_hours::integer) / 24.0)
        end::integer as days_late,
        t.first_response_hours as hours_to_complete
    from core.fct_service_ticket t
    left join core.dim_employee e on e.employee_key = t.agent_key
    where t.opened_at + to_hours($sla_hours::integer) < $as_of::timestamp and t.sla_breached is not null
),

work as (
    select * from steps
    union all by name
    select * from tickets
),

final as (
    select
        month, service, process, step_number, step_code, any_value(step_name) as step_name, agent_id,
        count(*)::integer as due,
        count(*) filter (where is_done)::integer as done,
        count(*) filter (where sla_met)::integer as met,
        count(*) filter (where not sla_met)::integer as missed,
        count(*) filter (where not sla_met and not is_done)::integer as open_overdue,
        round(count(*) filter (where sla_met) / nullif(count(*) filter (where sla_met is not null), 0), 4)::double
            as attainment_rate,
        round(median(days_late) filter (where not sla_met), 2)::double as median_days_late,
        -- the mean of DECIMALs (exact sum): a DOUBLE sum depends on the order the rows arrive in, and so
        -- could its rounding to 2 places (two runs of the same data published 231.24 and 231.25)
        round(avg(hours_to_complete::decimal(18, 6)) filter (where is_done), 2)::double as mean_hours_to_complete
    from work
    group by month, service, process, step_number, step_code, agent_id
)

select * from final
order by month, service, process, step_number, agent_id
