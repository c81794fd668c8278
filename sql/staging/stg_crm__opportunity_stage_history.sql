-- grain: one row per opportunity_stage_history source row per batch (typed; stage lower-cased, money DECIMAL)
with source as (
    select * from raw.crm__opportunity_stage_history where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(stage_change_id as bigint) as stage_change_id,
        try_cast(opportunity_id as bigint) as opportunity_id,
        lower(staging.clean_text(stage)) as stage,
        staging.utc_timestamp(changed_at) as changed_at,
        try_cast(changed_by as bigint) as changed_by,
        try_cast(amount as decimal(18, 2)) as amount,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
)

select * from final
