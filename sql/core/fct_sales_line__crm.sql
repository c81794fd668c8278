-- grain: one row per CRM order line of the orders touched by the batches loaded (line or order changed)
with loadable as (
    -- rows of the batches being loaded and of batches already loaded; never those of a failed batch
    -- or of a run that died before validating (its unvalidated rows are still in staging)
    select batch_id from _load_batches
    union all select batch_id from audit.load_batches where status = 'succeeded'
),

batch_lines as (
    select order_id from staging.stg_crm__order_lines where _batch_id in (select batch_id from _load_batches)
),

batch_orders as (
    select order_id from staging.stg_crm__orders where _batch_id in (select batch_id from _load_batches)
),

affected as (
    select order_id from batch_lines union select order_id from batch_orders
),

lines as (
    select * from staging.stg_crm__order_lines
    where order_id in (select order_id from affected) and order_line_id is not null
      and _batch_id in (select batch_id from loadable)
    qualify row_number() over (partition by order_line_id order by updated_at desc nulls last, _batch_id desc) = 1
),

orders as (
    select * from staging.stg_crm__orders
    where order_id in (select order_id from affected)
      and _batch_id in (select batch_id from loadable)
    qualify row_number() over (partition by order_id order by updated_at desc nulls last, _batch_id desc) = 1
),

customers as (
    select distinct _src_id, customer_id from core.dim_customer where source = 'crm' and _src_id is not null
),

final as (
    select
        'crm:' || l.order_line_id as sales_line_id,
        coalesce(o.order_number, 'crm-order:' || l.order_id) as order_id,
        l.line_number,
        o.order_ts,
        c.customer_id,
        l.product_code as product_id,
        o.channel,
        o.sales_rep_id as employee_src_id,
        l.quantity,
        l.unit_price,
        l.discount,
        coalesce(l.line_amount, round(l.quantity * l.unit_price - l.discount, 2)) as net_amount,
        coalesce(l.quantity < 0, false) as is_return,
        coalesce(o.status = 'cancelled', false) as is_cancelled,
        'crm' as source,
        coalesce(o.currency, 'GBP') as currency,
        l.is_deleted or coalesce(o.is_deleted, false) as is_deleted,
        greatest(l.updated_at, o.updated_at) as _updated_at,
        l._batch_id
    from lines l
    left join orders o on o.order_id = l.order_id
    left join customers c on c._src_id = o.customer_id
)

select * from final
