-- grain: one row per products source row per batch (typed; product_code trimmed, case-folded if the profile says so)
with source as (
    select * from raw.crm__products where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(product_id as bigint) as product_id,
        {fold_code}(staging.clean_text(product_code)) as product_code,
        staging.clean_text(name) as name,
        staging.clean_text(name_en) as name_en,
        staging.clean_text(category) as category,
        try_cast(unit_price as decimal(18, 2)) as unit_price,
        coalesce(try_cast(is_merchandise as boolean), true) as is_merchandise,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
)

select * from final
