-- model: core.fct_service_step
-- grain: one row per service process step touched by the batches loaded (steps of the service orders staged
--   too)
-- inputs: staging.stg_crm__service_steps, staging.stg_crm__service_orders, staging.stg_crm__orders,
--   staging.stg_crm__contracts, staging.stg_crm__products, core.dim_service_step,
--   _load_batches, _loadable_batches, _crm_customer_ids, _customer_versions, _product_versions, core.dim_employee
-- write: upsert key=step_id hash_exclude=sla_met,days_late
-- drivers: staging.stg_crm__service_steps, staging.stg_crm__service_orders
with touched as (
    select step_id from staging.stg_crm__service_steps where _batch_id in (select batch_id from _load_batches)
    union
    select s.step_id from staging.stg_crm__service_steps s
    where s.service_order_id in (
        select service_order_id from staging.stg_crm__service_orders where _batch_id in (select batch_id from _load_batches))
),

steps as (
    select * from staging.stg_crm__service_steps
    where step_id in (select step_id from touched) and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by step_id order by updated_at desc nulls last, _batch_id desc) = 1
),

service_orders as (
    select * from staging.stg_crm__service_orders
    where service_order_id in (select service_order_id from steps)
      and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by service_order_id order by updated_at desc nulls last, _batch_id desc) = 1
),

orders as (
    select order_id, order_number from staging.stg_crm__orders
    where order_id in (select order_id from service_orders) and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by order_id order by updated_at desc nulls last, _batch_id desc) = 1
),

contracts as (
    select contract_id, contract_number from staging.stg_crm__contracts
    where contract_id in (select contract_id from service_orders)
      and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by contract_id order by updated_at desc nulls last, _batch_id desc) = 1
),

products as (
    select product_code, category from staging.stg_crm__products
    where product_code in (select product_code from service_orders)
      and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by product_code order by updated_at desc nulls last, _batch_id desc) = 1
),

final as (
    select
        s.step_id::varchar as step_id, so.service_order_number as service_order_id, o.order_number as order_id,
        k.contract_number as contract_id, c.customer_id, so.product_code as product_id,
        p.category as service_category, so.process, s.step_number, s.step_code,
        coalesce(d.is_filing, false) as is_filing, s.agent_id as employee_src_id, s.started_at, s.due_at,
        s.completed_at, s.status, s.completed_at is not null as is_done,
        date_diff('second', s.started_at, s.completed_at) / 3600.0 as hours_to_complete,
        s.step_id as _src_id, s.is_deleted or coalesce(so.is_deleted, true) as is_deleted,
        greatest(s.updated_at, so.updated_at) as _updated_at, s._batch_id
    from steps s
    left join service_orders so on so.service_order_id = s.service_order_id
    left join orders o on o.order_id = so.order_id
    left join contracts k on k.contract_id = so.contract_id
    left join products p on p.product_code = so.product_code
    left join core.dim_service_step d on d.process = so.process and d.step_code = s.step_code
    left join _crm_customer_ids c on c._src_id = so.customer_id
)

-- conformed keys: the customer and product versions at started_at
-- (customer 0 = unknown), the employees, the date keys; sla_met / days_late are set at each cut-off
select n.*,
       coalesce(c.customer_key, 0) as customer_key,
       p.product_key,
       e0.employee_key as agent_key, e0.employee_id as agent_id,
       core.date_key(n.due_at) as due_date_key,
       core.date_key(n.completed_at) as completed_date_key,
       null as sla_met,
       null as days_late
from final n
left join _customer_versions c on c.customer_id = n.customer_id
    and core.valid_at(n.started_at, c._valid_from, c._valid_to)
left join _product_versions p on p.product_id = n.product_id
    and core.valid_at(n.started_at, p._valid_from, p._valid_to)
left join core.dim_employee e0 on e0._src_id = n.employee_src_id
