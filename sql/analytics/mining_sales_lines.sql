-- grain: one row per sales order line up to the as-of date (input of basket mining; not stored)
with

sales_lines as (
    select * from core.fct_sales_line
    where order_ts < $as_of_end
),

products as (
    select product_key, category, is_merchandise from core.dim_product
),

customers as (
    select customer_key, segment, region from core.dim_customer
),

final as (
    select
        s.order_id,
        s.order_ts,
        s.customer_id,
        trim(s.product_id) as product_id,
        p.category,
        s.quantity,
        s.is_return,
        s.is_cancelled,
        coalesce(s.is_merchandise, true) and coalesce(p.is_merchandise, true) as is_merchandise,
        c.segment,
        c.region
    from sales_lines as s
    left join products as p on p.product_key = s.product_key
    left join customers as c on c.customer_key = s.customer_key
)

select * from final
