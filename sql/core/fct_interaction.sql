-- model: core.fct_interaction
-- grain: one row per customer contact (interaction) staged in the batches loaded (latest version)
-- inputs: staging.stg_crm__interactions, _load_batches, _crm_customer_ids
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

select * from final
