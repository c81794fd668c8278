-- model: core.fct_sales_line
-- grain: one row per CRM order line of the orders touched by the batches loaded (line or order changed), with
--   the order's keys: customer version as of the order time, channel, sales rep (resolved once per
--   order, not once per line)
-- inputs: staging.stg_crm__order_lines, staging.stg_crm__orders, core.dim_channel, core.dim_employee,
--   core.dim_product, _load_batches, _loadable_batches, _crm_customer_ids, _customer_versions,
--   _product_versions, _load_settings
-- write: upsert key=sales_line_id
with batch_lines as (
    select order_id from staging.stg_crm__order_lines where _batch_id in (select batch_id from _load_batches)
),

batch_orders as (
    select order_id from staging.stg_crm__orders where _batch_id in (select batch_id from _load_batches)
),

affected as (
    select order_id from batch_lines union select order_id from batch_orders
),

-- the versions that may load, narrow: latest version per line and per order, where only ids staged
-- more than once are ranked (a window over every row would sort all of them, wide, for the few repeats).
-- The affected orders are found first and materialized, the loadable batches filtered after: the two
-- filters in one scan left DuckDB hashing every staged row's batch id before the narrow order filter
versions_touched as materialized (
    select 'line' as kind, rowid as _rid, order_line_id as id, updated_at, _batch_id
    from staging.stg_crm__order_lines
    where order_id in (select order_id from affected) and order_line_id is not null
    union all
    select 'order', rowid, order_id, updated_at, _batch_id from staging.stg_crm__orders
    where order_id in (select order_id from affected)
),

versions as (
    select * from versions_touched where _batch_id in (select batch_id from _loadable_batches)
),

repeats as (select kind, id from versions group by kind, id having count(*) > 1),

latest as (
    select kind, _rid from versions anti join repeats using (kind, id)
    union all
    select kind, arg_max(_rid, (coalesce(updated_at, '-infinity'::timestamp), _batch_id)) from versions
    semi join repeats using (kind, id) group by kind, id
),

lines as (
    select * from staging.stg_crm__order_lines where rowid in (select _rid from latest where kind = 'line')
),

orders as (
    select * from staging.stg_crm__orders where rowid in (select _rid from latest where kind = 'order')
),

keyed_orders as (
    select o.*, c.customer_id as customer_code, coalesce(cv.customer_key, 0) as customer_key, ch.channel_key,
           e.employee_key
    from orders o
    left join _crm_customer_ids c on c._src_id = o.customer_id
    left join _customer_versions cv on cv.customer_id = c.customer_id
        and core.valid_at(o.order_ts, cv._valid_from, cv._valid_to)
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
        -- money in the reporting currency; the line's own amount and the rate beside it (orders staged
        -- before rates existed carry no rate: they were in the one currency of the source)
        case when coalesce(o.fx_rate, 1) = 1 then coalesce(l.line_amount, round(l.quantity * l.unit_price - l.discount, 2))
             else round(coalesce(l.line_amount, round(l.quantity * l.unit_price - l.discount, 2)) * o.fx_rate, 2)
        end as net_amount,
        coalesce(l.line_amount, round(l.quantity * l.unit_price - l.discount, 2)) as local_net_amount,
        coalesce(o.fx_rate, 1) as fx_rate,
        null::decimal(18, 4) as exact_quantity,
        coalesce(l.quantity < 0, false) as is_return,
        coalesce(o.status = 'cancelled', false) as is_cancelled,
        'crm' as source,
        coalesce(o.currency, (select reporting_currency from _load_settings)) as currency,
        l.is_deleted or coalesce(o.is_deleted, false) as is_deleted,
        greatest(l.updated_at, o.updated_at) as _updated_at,
        l._batch_id
    from lines l
    left join keyed_orders o on o.order_id = l.order_id
)

-- the product version at the order time (its merchandise flag) and the date key
select n.*, p.product_key, x.is_merchandise,
       year(n.order_ts) * 10000 + month(n.order_ts) * 100 + day(n.order_ts) as date_key
from final n
left join _product_versions p on p.product_id = n.product_id and core.valid_at(n.order_ts, p._valid_from, p._valid_to)
left join core.dim_product x on x.product_key = p.product_key
