-- grain: one row per leads source row per batch (typed; channel and status codes trimmed and lower-cased)
with source as (
    select * from raw.crm__leads where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(lead_id as bigint) as lead_id,
        staging.clean_text(lead_code) as lead_code,
        lower(staging.clean_text(channel)) as channel,
        try_cast(owner_id as bigint) as owner_id,
        lower(staging.clean_text(segment)) as segment,
        staging.clean_text(region) as region,
        lower(staging.clean_text(status)) as status,
        staging.utc_timestamp(converted_at) as converted_at,
        staging.utc_timestamp(disqualified_at) as disqualified_at,
        lower(staging.clean_text(disqualify_reason)) as disqualify_reason,
        try_cast(customer_id as bigint) as customer_id,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
)

select * from final
