-- model: core.fct_opportunity
-- grain: one row per opportunity touched by the batches loaded (accumulating snapshot over its stage history)
-- inputs: staging.stg_crm__opportunities, staging.stg_crm__opportunity_stage_history, staging.stg_crm__leads,
--   _load_batches, _loadable_batches, _crm_customer_ids, _customer_versions, _product_versions, core.dim_employee
-- write: upsert key=opportunity_id
-- drivers: staging.stg_crm__opportunities, staging.stg_crm__opportunity_stage_history, staging.stg_crm__leads
-- <stage>_at is the first time the opportunity entered that stage: NULL when it skipped it (or has not got
-- there). furthest_stage is the highest open stage it entered (won when won): the funnel counts an
-- opportunity as having reached every stage up to it, skipped ones included.
with touched as (
    select opportunity_id from staging.stg_crm__opportunities where _batch_id in (select batch_id from _load_batches)
    union
    select opportunity_id from staging.stg_crm__opportunity_stage_history
    where _batch_id in (select batch_id from _load_batches)
    union
    select o.opportunity_id from staging.stg_crm__opportunities o
    where o.lead_id in (select lead_id from staging.stg_crm__leads where _batch_id in (select batch_id from _load_batches))
),

opportunities as (
    select * from staging.stg_crm__opportunities
    where opportunity_id in (select opportunity_id from touched)
      and _batch_id in (select batch_id from _loadable_batches) and opportunity_code is not null
    qualify row_number() over (partition by opportunity_id order by updated_at desc nulls last, _batch_id desc) = 1
),

history as (
    select * from staging.stg_crm__opportunity_stage_history
    where opportunity_id in (select opportunity_id from touched)
      and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by stage_change_id order by updated_at desc nulls last, _batch_id desc) = 1
),

leads as (
    select lead_id, lead_code, channel from staging.stg_crm__leads
    where lead_id in (select lead_id from opportunities) and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by lead_id order by updated_at desc nulls last, _batch_id desc) = 1
),

changes as (
    select
        *,
        case stage when 'new' then 1 when 'qualified' then 2 when 'proposal' then 3 when 'negotiation' then 4
                   when 'won' then 5 when 'lost' then 5 end as stage_order,
        lag(case stage when 'new' then 1 when 'qualified' then 2 when 'proposal' then 3 when 'negotiation' then 4
                       when 'won' then 5 when 'lost' then 5 end)
            over (partition by opportunity_id order by changed_at, stage_change_id) as previous_order
    from history
    where not is_deleted
),

snapshot as (
    select
        opportunity_id,
        min(changed_at) filter (where stage = 'new') as new_at,
        min(changed_at) filter (where stage = 'qualified') as qualified_at,
        min(changed_at) filter (where stage = 'proposal') as proposal_at,
        min(changed_at) filter (where stage = 'negotiation') as negotiation_at,
        min(changed_at) filter (where stage = 'won') as won_at,
        min(changed_at) filter (where stage = 'lost') as lost_at,
        min(changed_at) as first_change_at,
        max(stage_order) filter (where stage not in ('won', 'lost')) as furthest_open_order,
        arg_min(amount, (changed_at, stage_change_id)) as first_amount,  -- the order of previous_order's window
        count(*) as stage_changes,
        count(*) filter (where stage_order < previous_order) as backward_moves,
        sum(case when stage not in ('won', 'lost') and stage_order > coalesce(previous_order, 0) + 1
                 then stage_order - coalesce(previous_order, 0) - 1 else 0 end) as skipped_stages
    from changes
    group by opportunity_id
),

final as (
    select
        o.opportunity_code as opportunity_id, l.lead_code as lead_id, c.customer_id,
        o.owner_id as employee_src_id, o.product_code as product_id, l.channel, o.amount,
        coalesce(s.first_amount, o.amount) as first_amount, o.stage,
        case o.stage when 'new' then 1 when 'qualified' then 2 when 'proposal' then 3 when 'negotiation' then 4
                     when 'won' then 5 when 'lost' then 5 end as stage_order,
        case when o.stage = 'won' or s.won_at is not null then 'won'
             else ['new', 'qualified', 'proposal', 'negotiation'][coalesce(s.furthest_open_order, 1)] end
            as furthest_stage,
        case when o.stage = 'won' or s.won_at is not null then 5 else coalesce(s.furthest_open_order, 1) end
            as furthest_stage_order,
        o.stage not in ('won', 'lost') as is_open, o.stage = 'won' as is_won, o.stage = 'lost' as is_lost,
        o.lost_reason, coalesce(s.first_change_at, o.created_at) as created_at, s.new_at, s.qualified_at,
        s.proposal_at, s.negotiation_at, s.won_at, s.lost_at,
        coalesce(o.closed_at, case o.stage when 'won' then s.won_at when 'lost' then s.lost_at end) as closed_at,
        o.expected_close_date, coalesce(s.stage_changes, 0)::integer as stage_changes,
        coalesce(s.backward_moves, 0)::integer as backward_moves,
        coalesce(s.skipped_stages, 0)::integer as skipped_stages,
        o.opportunity_id as _src_id, o.is_deleted, o.updated_at as _updated_at, o._batch_id
    from opportunities o
    left join snapshot s on s.opportunity_id = o.opportunity_id
    left join leads l on l.lead_id = o.lead_id
    left join _crm_customer_ids c on c._src_id = o.customer_id
),

with_days as (
    select *, date_diff('second', created_at, closed_at) / 86400.0 as days_to_close
    from final
)

-- conformed keys: the customer and product versions at created_at
-- (customer 0 = unknown), the employees, the date keys
select n.*,
       coalesce(c.customer_key, 0) as customer_key,
       p.product_key,
       e0.employee_key as owner_key, e0.employee_id as owner_rep_id,
       core.date_key(n.created_at) as created_date_key,
       core.date_key(n.closed_at) as closed_date_key
from with_days n
left join _customer_versions c on c.customer_id = n.customer_id
    and core.valid_at(n.created_at, c._valid_from, c._valid_to)
left join _product_versions p on p.product_id = n.product_id
    and core.valid_at(n.created_at, p._valid_from, p._valid_to)
left join core.dim_employee e0 on e0._src_id = n.employee_src_id
