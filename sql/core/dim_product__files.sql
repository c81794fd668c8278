-- model: core.dim_product
-- grain: one row per file-drop product not yet in dim_product (first sighting; a line's price is a
--   transaction price, so files never version an existing product)
-- inputs: staging.stg_files__sales_lines, core.dim_product, _load_batches
-- write: scd2 spec=product
-- params: non_merchandise_codes
with lines as (
    select * from staging.stg_files__sales_lines
    where _batch_id in (select batch_id from _load_batches) and product_code is not null and order_ts is not null
),

final as (
    select
        product_code as product_id, any_value(_profile) as source, mode(description) as name,
        null::varchar as category, mode(unit_price)::decimal(18, 2) as unit_price,
        upper(product_code) not in (select unnest($non_merchandise_codes::varchar[])) as is_merchandise,
        false as is_deleted, null::bigint as _src_id, min(order_ts) as _created_at,
        min(order_ts) as _updated_at, min(_batch_id) as _batch_id
    from lines
    where product_code not in (select product_id from core.dim_product)
    group by product_code
)

select * from final
