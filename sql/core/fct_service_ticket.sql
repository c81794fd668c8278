-- grain: one row per service ticket staged in the batches loaded (latest version)
with loadable as (
    -- rows of the batches being loaded and of batches already loaded; never those of a failed batch
    -- or of a run that died before validating (its unvalidated rows are still in staging)
    select batch_id from _load_batches
    union all select batch_id from audit.load_batches where status = 'succeeded'
),

tickets as (
    select * from staging.stg_crm__service_tickets
    where _batch_id in (select batch_id from _load_batches) and ticket_number is not null
    qualify row_number() over (partition by ticket_id order by updated_at desc nulls last, _batch_id desc) = 1
),

orders as (
    select order_id, order_number from staging.stg_crm__orders
    where order_id in (select order_id from tickets)
      and _batch_id in (select batch_id from loadable)
    qualify row_number() over (partition by order_id order by updated_at desc nulls last, _batch_id desc) = 1
),

customers as (
    select distinct _src_id, customer_id from core.dim_customer where source = 'crm' and _src_id is not null
),

final as (
    select
        t.ticket_number as ticket_id, c.customer_id, t.agent_id as employee_src_id, t.ticket_type,
        t.status, t.channel, t.priority, o.order_number as order_id, t.opened_at, t.first_response_at,
        t.resolved_at,
        date_diff('second', t.opened_at, t.first_response_at) / 3600.0 as first_response_hours,
        date_diff('second', t.opened_at, t.resolved_at) / 3600.0 as resolution_hours,
        t.satisfaction, t.is_deleted, t.updated_at as _updated_at, t._batch_id
    from tickets t
    left join orders o on o.order_id = t.order_id
    left join customers c on c._src_id = t.customer_id
)

select * from final
