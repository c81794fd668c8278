-- grain: one row per contract ending in [$event_from, $event_to] that is in force at the scan ($as_of) and not
-- renewed by then (one care event of a renewal_due rule)
-- inputs: core.fct_contract, core.dim_product, _care_renewal_risk (marts.contract_renewals' probability and
--         main driver per contract; empty when that mart is missing)
-- write: appended to _care_events by warehouse/analytics/care.py
with contracts as (
    select * from core.fct_contract
    where end_date between $event_from::date and $event_to::date
      and signed_at < $as_of::timestamp
      and (terminated_at is null or terminated_at >= $as_of::date)
),

renewed_before_scan as (
    select distinct renewed_from_contract_id as contract_id from core.fct_contract
    where renewed_from_contract_id is not null and signed_at < $as_of::timestamp
),

names as (
    select product_id, name from core.dim_product where is_current
)

select
    c.customer_id, c.contract_id as subject_id, c.end_date as event_date,
    'contract ' || c.contract_id || ' (' || coalesce(n.name, c.product_id) || ') ends on '
        || strftime(c.end_date, '%Y-%m-%d')
        || coalesce('; renewal probability ' || round(100 * r.renewal_probability)::integer || '%', '')
        || coalesce('; main risk driver: ' || r.main_driver, '') as reason,
    (coalesce(c.renewal_fee, c.fee)
        * case c.billing_period when 'monthly' then 12 when 'quarterly' then 4 else 1 end)::double as value_at_stake,
    c.owner_rep_id as contract_owner_id, null::varchar as ticket_agent_id
from contracts c
left join names n on n.product_id = c.product_id
left join _care_renewal_risk r on r.contract_id = c.contract_id
where c.customer_id is not null and c.contract_id not in (select contract_id from renewed_before_scan)
