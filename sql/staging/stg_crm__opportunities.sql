-- grain: one row per opportunities source row per batch (typed; stage lower-cased, product_code trimmed like the products' codes, money DECIMAL)
with source as (
    select * from raw.crm__opportunities where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(opportunity_id as bigint) as opportunity_id,
        staging.clean_text(opportunity_code) as opportunity_code,
        try_cast(lead_id as bigint) as lead_id,
        try_cast(customer_id as bigint) as customer_id,
        try_cast(owner_id as bigint) as owner_id,
        {fold_code}(staging.clean_text(product_code)) as product_code,
        try_cast(amount as decimal(18, 2)) as amount,
        lower(staging.clean_text(stage)) as stage,
        try_cast(expected_close_date as date) as expected_close_date,
        staging.utc_timestamp(closed_at) as closed_at,
        lower(staging.clean_text(lost_reason)) as lost_reason,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
)

select * from final
