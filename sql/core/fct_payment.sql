-- model: core.fct_payment
-- grain: one row per payment due staged in the batches loaded (latest version)
-- inputs: staging.stg_crm__payments, staging.stg_crm__orders, _load_batches, _loadable_batches,
--   _crm_customer_ids, _crm_contract_ids, _customer_versions
-- write: upsert key=payment_id hash_exclude=days_late
-- requires: staging.stg_crm__payments
with payments as (
    select * from staging.stg_crm__payments
    where _batch_id in (select batch_id from _load_batches) and payment_id is not null
    qualify row_number() over (partition by payment_id order by updated_at desc nulls last, _batch_id desc) = 1
),

orders as (
    select order_id, order_number, customer_id from staging.stg_crm__orders
    where order_id in (select order_id from payments)
      and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by order_id order by updated_at desc nulls last, _batch_id desc) = 1
),

final as (
    select
        p.payment_id::varchar as payment_id, coalesce(o.order_number, 'crm-order:' || p.order_id) as order_id,
        c.customer_id, p.due_date, p.paid_at, p.amount, p.method, k.contract_id, p.is_deleted,
        p.updated_at as _updated_at, p._batch_id
    from payments p
    left join orders o on o.order_id = p.order_id
    left join _crm_customer_ids c on c._src_id = coalesce(p.customer_id, o.customer_id)
    left join _crm_contract_ids k on k._src_id = p.contract_id
)

-- conformed key: the customer version at the due date (0 = unknown); days_late is set at each cut-off
select n.*, coalesce(c.customer_key, 0) as customer_key, null::integer as days_late
from final n
left join _customer_versions c on c.customer_id = n.customer_id
    and core.valid_at(n.due_date, c._valid_from, c._valid_to)
