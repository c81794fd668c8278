-- model: core.fct_sales_line
-- grain: one row per file-drop sales line of the batches loaded
-- inputs: staging.stg_files__sales_lines, _load_batches
-- write: upsert key=sales_line_id
-- money: local_net_amount in the line's own currency, net_amount in the reporting currency (fx_rate
-- attached in staging; a line without a rate never gets here: validation quarantines it)
with lines as (
    select * from staging.stg_files__sales_lines where _batch_id in (select batch_id from _load_batches)
),

priced as (
    select *, round(coalesce(exact_quantity, quantity) * unit_price - discount, 2)::decimal(18, 2) as local_amount
    from lines
),

final as (
    select
        sales_line_id, order_id, line_number, order_ts, customer_id, product_code as product_id, channel,
        null::bigint as employee_src_id, quantity, exact_quantity, unit_price, discount,
        round(local_amount * fx_rate, 2)::decimal(18, 2) as net_amount,
        local_amount as local_net_amount, fx_rate,
        is_return, is_cancelled, _source as source, currency, false as is_deleted,
        order_ts as _updated_at, _batch_id
    from priced
    where sales_line_id is not null
)

select * from final
