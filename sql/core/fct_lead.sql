-- model: core.fct_lead
-- grain: one row per lead touched by the batches loaded (its latest version; won = its opportunity was won)
-- inputs: staging.stg_crm__leads, staging.stg_crm__opportunities, _load_batches,
--   _loadable_batches, _crm_customer_ids, _customer_versions, core.dim_employee
-- write: upsert key=lead_id
-- drivers: staging.stg_crm__leads, staging.stg_crm__opportunities
with touched as (
    select lead_id from staging.stg_crm__leads where _batch_id in (select batch_id from _load_batches)
    union
    select lead_id from staging.stg_crm__opportunities
    where _batch_id in (select batch_id from _load_batches) and lead_id is not null
),

leads as (
    select * from staging.stg_crm__leads
    where lead_id in (select lead_id from touched) and _batch_id in (select batch_id from _loadable_batches)
      and lead_code is not null
    qualify row_number() over (partition by lead_id order by updated_at desc nulls last, _batch_id desc) = 1
),

opportunities as (
    select * from staging.stg_crm__opportunities
    where lead_id in (select lead_id from touched) and _batch_id in (select batch_id from _loadable_batches)
      and not is_deleted
    qualify row_number() over (partition by opportunity_id order by updated_at desc nulls last, _batch_id desc) = 1
),

-- a lead's opportunity: its first one (of two created at the same time, the smaller code); won when any of
-- its opportunities was won
lead_outcome as (
    select
        lead_id,
        arg_min(opportunity_code, (created_at, opportunity_code)) as opportunity_id,
        bool_or(stage = 'won') as is_won,
        min(closed_at) filter (where stage = 'won') as won_at
    from opportunities
    group by lead_id
),

final as (
    select
        l.lead_code as lead_id, c.customer_id, l.owner_id as employee_src_id, l.channel, l.segment, l.region,
        l.status, l.created_at, l.converted_at, l.disqualified_at, l.disqualify_reason,
        l.converted_at is not null as is_converted, l.disqualified_at is not null as is_disqualified,
        o.opportunity_id, coalesce(o.is_won, false) as is_won, o.won_at,
        date_diff('second', l.created_at, l.converted_at) / 86400.0 as days_to_convert,
        l.lead_id as _src_id, l.is_deleted, l.updated_at as _updated_at, l._batch_id
    from leads l
    left join lead_outcome o on o.lead_id = l.lead_id
    left join _crm_customer_ids c on c._src_id = l.customer_id
)

-- conformed keys: the customer version at created_at
-- (customer 0 = unknown), the employees, the date keys
select n.*,
       coalesce(c.customer_key, 0) as customer_key,
       e0.employee_key as owner_key, e0.employee_id as owner_rep_id,
       core.date_key(n.created_at) as created_date_key
from final n
left join _customer_versions c on c.customer_id = n.customer_id
    and core.valid_at(n.created_at, c._valid_from, c._valid_to)
left join core.dim_employee e0 on e0._src_id = n.employee_src_id
