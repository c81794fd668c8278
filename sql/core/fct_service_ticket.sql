-- model: core.fct_service_ticket
-- grain: one row per service ticket staged in the batches loaded (latest version)
-- inputs: staging.stg_crm__service_tickets, staging.stg_crm__orders, _load_batches, _loadable_batches,
--   _crm_customer_ids, _customer_versions, core.dim_employee, core.dim_ticket_type, core.dim_ticket_status,
--   core.dim_channel
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

-- conformed keys: the customer version at the opening time (0 = unknown), the agent, the code dimensions
select n.*, coalesce(c.customer_key, 0) as customer_key, e.employee_key as agent_key, tt.ticket_type_key,
       ts.ticket_status_key, ch.channel_key,
       year(n.opened_at) * 10000 + month(n.opened_at) * 100 + day(n.opened_at) as opened_date_key,
       null::boolean as sla_breached
from final n
left join _customer_versions c on c.customer_id = n.customer_id
    and core.valid_at(n.opened_at, c._valid_from, c._valid_to)
left join core.dim_employee e on e._src_id = n.employee_src_id
left join core.dim_ticket_type tt on tt.ticket_type_code = n.ticket_type
left join core.dim_ticket_status ts on ts.ticket_status_code = n.status
left join core.dim_channel ch on ch.channel_code = n.channel
