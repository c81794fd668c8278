-- grain: one row per file-drop sales line of the batches loaded
with lines as (
    select * from staging.stg_files__sales_lines where _batch_id in (select batch_id from _load_batches)
),

final as (
    select
        sales_line_id, order_id, line_number, order_ts, customer_id, product_code as product_id, channel,
        null::bigint as employee_src_id, quantity, unit_price, discount,
        round(quantity * unit_price - discount, 2)::decimal(18, 2) as net_amount,
        is_return, is_cancelled, _source as source, currency, false as is_deleted,
        order_ts as _updated_at, _batch_id
    from lines
    where sales_line_id is not null
)

select * from final
