-- model: core.fct_service_ticket
-- grain: one row per service ticket staged in the batches loaded (latest version)
-- inputs: staging.stg_crm__service_tickets, staging.stg_crm__orders, _load_batches, _loadable_batches,
--   _crm_customer_ids
-- write: upsert key=ticket_id hash_exclude=sla_breached
-- requires: staging.stg_crm__service_tickets
with tickets as (
    select * from staging.stg_crm__service_tickets
    where _batch_id in (select batch_id from _load_batches) and ticket_number is not null
    qualify row_number() over (partition by ticket_id order by updated_at desc nulls last, _batch_id desc) = 1
),

orders as (
    select order_id, order_number from staging.stg_crm__orders
    where order_id in (select order_id from tickets)
      and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by order_id order by updated_at desc nulls last, _batch_id desc) = 1
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
    left join _crm_customer_ids c on c._src_id = t.customer_id
)

select * from final
