-- model: core.fct_interaction
-- grain: one row per customer contact (interaction) staged in the batches loaded (latest version)
-- inputs: staging.stg_crm__interactions, _load_batches, _crm_customer_ids, _customer_versions,
--   core.dim_employee, core.dim_channel
-- write: upsert key=interaction_id
with interactions as (
    select * from staging.stg_crm__interactions
    where _batch_id in (select batch_id from _load_batches) and interaction_id is not null
    qualify row_number() over (partition by interaction_id order by updated_at desc nulls last, _batch_id desc) = 1
),

final as (
    select
        i.interaction_id::varchar as interaction_id, c.customer_id, i.employee_id as employee_src_id,
        i.interaction_type, i.channel, i.occurred_at, i.outcome, i.is_deleted,
        i.updated_at as _updated_at, i._batch_id
    from interactions i
    left join _crm_customer_ids c on c._src_id = i.customer_id
)

-- conformed keys: the customer version at the contact time (0 = unknown), the employee, the channel
select n.*, coalesce(c.customer_key, 0) as customer_key, e.employee_key, ch.channel_key,
       year(n.occurred_at) * 10000 + month(n.occurred_at) * 100 + day(n.occurred_at) as date_key
from final n
left join _customer_versions c on c.customer_id = n.customer_id
    and core.valid_at(n.occurred_at, c._valid_from, c._valid_to)
left join core.dim_employee e on e._src_id = n.employee_src_id
left join core.dim_channel ch on ch.channel_code = n.channel
