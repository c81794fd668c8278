-- grain: one row per order_lines source row per batch (typed; product_code trimmed like the products' codes)
with source as (
    select * from raw.crm__order_lines where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(order_line_id as bigint) as order_line_id,
        try_cast(order_id as bigint) as order_id,
        try_cast(line_number as integer) as line_number,
        {fold_code}(staging.clean_text(product_code)) as product_code,
        try_cast(quantity as integer) as quantity,
        try_cast(unit_price as decimal(18, 4)) as unit_price,
        try_cast(coalesce(staging.clean_text(discount), '0') as decimal(18, 2)) as discount,
        try_cast(line_amount as decimal(18, 2)) as line_amount,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
)

select * from final
