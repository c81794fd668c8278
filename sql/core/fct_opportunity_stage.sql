-- model: core.fct_opportunity_stage
-- grain: one row per stage change of the opportunities touched by the batches loaded (every change of theirs)
-- inputs: staging.stg_crm__opportunity_stage_history, staging.stg_crm__opportunities, staging.stg_crm__leads,
--   _load_batches, _loadable_batches, _crm_customer_ids, _customer_versions, core.dim_employee
-- write: upsert key=stage_change_id
-- drivers: staging.stg_crm__opportunity_stage_history, staging.stg_crm__opportunities
-- Stage order: new 1, qualified 2, proposal 3, negotiation 4, won 5, lost 5 (a close). A change to a lower
-- order is a move back; a forward jump over a stage (new -> proposal; a first change past new) is a skip;
-- a close never skips. The changes of a deleted opportunity are removed with it.
with touched as (
    select opportunity_id from staging.stg_crm__opportunity_stage_history
    where _batch_id in (select batch_id from _load_batches)
    union
    select opportunity_id from staging.stg_crm__opportunities where _batch_id in (select batch_id from _load_batches)
),

history as (
    select * from staging.stg_crm__opportunity_stage_history
    where opportunity_id in (select opportunity_id from touched)
      and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by stage_change_id order by updated_at desc nulls last, _batch_id desc) = 1
),

opportunities as (
    select * from staging.stg_crm__opportunities
    where opportunity_id in (select opportunity_id from touched)
      and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by opportunity_id order by updated_at desc nulls last, _batch_id desc) = 1
),

leads as (
    select lead_id, channel from staging.stg_crm__leads
    where lead_id in (select lead_id from opportunities) and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by lead_id order by updated_at desc nulls last, _batch_id desc) = 1
),

ordered as (
    select
        h.*,
        case h.stage when 'new' then 1 when 'qualified' then 2 when 'proposal' then 3 when 'negotiation' then 4
                     when 'won' then 5 when 'lost' then 5 end as stage_order
    from history h
),

-- the changes still in force (deleted ones are gone from the opportunity's story)
sequenced as (
    select
        *,
        row_number() over w as change_number,
        lag(stage) over w as previous_stage,
        lag(stage_order) over w as previous_stage_order,
        lag(changed_at) over w as previous_changed_at
    from ordered
    where not is_deleted
    window w as (partition by opportunity_id order by changed_at, stage_change_id)
),

changes as (
    select * from sequenced
    union all by name
    select *, null::bigint as change_number from ordered where is_deleted
),

final as (
    select
        h.stage_change_id::varchar as stage_change_id, o.opportunity_code as opportunity_id, h.change_number,
        h.stage, h.stage_order, h.previous_stage, h.previous_stage_order, h.changed_at,
        h.changed_by as changed_by_src_id, o.owner_id as employee_src_id, c.customer_id, l.channel, h.amount,
        date_diff('second', h.previous_changed_at, h.changed_at) / 86400.0 as days_in_previous_stage,
        coalesce(h.stage_order < h.previous_stage_order, false) as is_backward,
        coalesce(h.stage not in ('won', 'lost') and h.stage_order > coalesce(h.previous_stage_order, 0) + 1, false)
            as is_skip,
        case when h.stage not in ('won', 'lost') and h.stage_order > coalesce(h.previous_stage_order, 0) + 1
             then h.stage_order - coalesce(h.previous_stage_order, 0) - 1 else 0 end as stages_skipped,
        h.stage_change_id as _src_id, h.is_deleted or coalesce(o.is_deleted, true) as is_deleted,
        h.updated_at as _updated_at, h._batch_id
    from changes h
    left join opportunities o on o.opportunity_id = h.opportunity_id
    left join leads l on l.lead_id = o.lead_id
    left join _crm_customer_ids c on c._src_id = o.customer_id
)

-- conformed keys: the customer version at changed_at
-- (customer 0 = unknown), the employees, the date keys
select n.*,
       coalesce(c.customer_key, 0) as customer_key,
       e0.employee_key as owner_key, e0.employee_id as owner_rep_id,
       e1.employee_key as changed_by_key, e1.employee_id as changed_by_id,
       core.date_key(n.changed_at) as date_key
from final n
left join _customer_versions c on c.customer_id = n.customer_id
    and core.valid_at(n.changed_at, c._valid_from, c._valid_to)
left join core.dim_employee e0 on e0._src_id = n.employee_src_id
left join core.dim_employee e1 on e1._src_id = n.changed_by_src_id
