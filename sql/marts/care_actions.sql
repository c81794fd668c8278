-- grain: one row per customer per care action (rule) per subject (contract, ticket, deadline) for the week
-- starting $week_start
-- inputs: _care_events (every rule's events: warehouse/analytics/care.py runs sql/marts/care/<kind>.sql per rule),
--         _care_rules (the declared rules), _care_account_reps (each customer's sales rep at the scan),
--         _care_offers (the customer's top cross-sell offer; empty when marts.cross_sell_recommendations is missing)
-- write: replace marts.care_actions and the week's rows of analytics.care_actions
-- due_date: days_before rules = event - days_before; days_after rules = event + days_after, not before the week;
-- value_at_risk = the scan day. Actions are ranked per owner by priority, value at stake and due date; the
-- first $capacity are within the owner's weekly capacity (the rest stay listed, flagged).
with actions as (
    select
        $week_start::date as week_start, e.customer_id, r.code as action_code, r.action, e.reason,
        case when r.kind = 'value_at_risk' then $week_start::date
             when r.days_after is not null then greatest(e.event_date + r.days_after, $week_start::date)
             else e.event_date - r.days_before end::date as due_date,
        e.event_date::date as event_date,
        coalesce(case r.owner when 'contract_owner' then e.contract_owner_id
                              when 'ticket_agent' then e.ticket_agent_id end, a.sales_rep_id, '(unassigned)') as owner_id,
        case when r.owner = 'contract_owner' and e.contract_owner_id is not null then 'contract_owner'
             when r.owner = 'ticket_agent' and e.ticket_agent_id is not null then 'ticket_agent'
             else 'account_rep' end as owner_role,
        r.channel, r.priority, round(e.value_at_stake, 2)::double as value_at_stake, e.subject_id,
        case when r.offer then o.offer_product_id end as offer_product_id,
        case when r.offer then o.offer_product_name end as offer_product_name,
        case when r.offer then o.offer_reason end as offer_reason
    from _care_events e
    join _care_rules r on r.code = e.rule_code
    left join _care_account_reps a on a.customer_id = e.customer_id
    left join _care_offers o on o.customer_id = e.customer_id
    where e.customer_id is not null
),

ranked as (
    select
        *,
        row_number() over (partition by owner_id order by priority, value_at_stake desc nulls last, due_date,
                                                          customer_id, action_code, subject_id) as owner_rank
    from actions
)

select *, owner_rank <= $capacity::integer as within_capacity
from ranked
order by owner_id, owner_rank
