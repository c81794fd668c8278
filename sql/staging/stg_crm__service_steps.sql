-- grain: one row per service_steps source row per batch (typed; step and status codes lower-cased)
with source as (
    select * from raw.crm__service_steps where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(step_id as bigint) as step_id,
        try_cast(service_order_id as bigint) as service_order_id,
        try_cast(step_number as integer) as step_number,
        lower(staging.clean_text(step_code)) as step_code,
        try_cast(agent_id as bigint) as agent_id,
        staging.utc_timestamp(started_at) as started_at,
        staging.utc_timestamp(due_at) as due_at,
        staging.utc_timestamp(completed_at) as completed_at,
        lower(staging.clean_text(status)) as status,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
)

select * from final
