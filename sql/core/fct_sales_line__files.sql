-- model: core.fct_sales_line
-- grain: one row per file-drop sales line of the batches loaded
-- inputs: staging.stg_files__sales_lines, core.dim_channel, core.dim_employee, core.dim_product, _load_batches,
--   _customer_versions, _product_versions
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

-- conformed keys: the customer and product versions at the order time (customer 0 = guest or unknown),
-- channel, employee, the product's merchandise flag, the date key
select n.*, coalesce(c.customer_key, 0) as customer_key, ch.channel_key, e.employee_key, p.product_key,
       x.is_merchandise, year(n.order_ts) * 10000 + month(n.order_ts) * 100 + day(n.order_ts) as date_key
from final n
left join _customer_versions c on c.customer_id = n.customer_id and core.valid_at(n.order_ts, c._valid_from, c._valid_to)
left join core.dim_channel ch on ch.channel_code = n.channel
left join core.dim_employee e on e._src_id = n.employee_src_id
left join _product_versions p on p.product_id = n.product_id and core.valid_at(n.order_ts, p._valid_from, p._valid_to)
left join core.dim_product x on x.product_key = p.product_key
