-- grain: one row per CRM order line of the orders touched by the batches loaded (line or order changed),
-- with the order's keys: customer version as of the order time, channel, sales rep (resolved once per
-- order, not once per line)
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

-- latest version per line and per order: only ids staged more than once are ranked (a window over
-- every row would sort all of them, wide, for the few that repeat)
line_versions as (
    select rowid as _rid, order_line_id as id, updated_at, _batch_id from staging.stg_crm__order_lines
    where order_id in (select order_id from affected) and order_line_id is not null
      and _batch_id in (select batch_id from loadable)
),

line_repeats as (select id from line_versions group by id having count(*) > 1),

lines as (
    select * from staging.stg_crm__order_lines where rowid in (
        select _rid from line_versions where id not in (select id from line_repeats)
        union all
        select arg_max(_rid, (coalesce(updated_at, '-infinity'::timestamp), _batch_id)) from line_versions
        where id in (select id from line_repeats) group by id)
),

order_versions as (
    select rowid as _rid, order_id as id, updated_at, _batch_id from staging.stg_crm__orders
    where order_id in (select order_id from affected) and _batch_id in (select batch_id from loadable)
),

order_repeats as (select id from order_versions group by id having count(*) > 1),

orders as (
    select * from staging.stg_crm__orders where rowid in (
        select _rid from order_versions where id not in (select id from order_repeats)
        union all
        select arg_max(_rid, (coalesce(updated_at, '-infinity'::timestamp), _batch_id)) from order_versions
        where id in (select id from order_repeats) group by id)
),

customers as (
    select distinct _src_id, customer_id from core.dim_customer where source = 'crm' and _src_id is not null
),

keyed_orders as (
    select o.*, c.customer_id as customer_code, {customer_key} as customer_key, ch.channel_key, e.employee_key
    from orders o
    left join customers c on c._src_id = o.customer_id
    {customer_version_join}
    left join core.dim_channel ch on ch.channel_code = o.channel
    left join core.dim_employee e on e._src_id = o.sales_rep_id
),

final as (
    select
        'crm:' || l.order_line_id as sales_line_id,
        coalesce(o.order_number, 'crm-order:' || l.order_id) as order_id,
        l.line_number,
        o.order_ts,
        o.customer_code as customer_id,
        coalesce(o.customer_key, 0) as customer_key,
        l.product_code as product_id,
        o.channel,
        o.channel_key,
        o.employee_key,
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
    left join keyed_orders o on o.order_id = l.order_id
)

select * from final
