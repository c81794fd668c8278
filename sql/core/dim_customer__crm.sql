-- model: core.dim_customer
-- grain: one row per CRM customer version staged in the batches loaded (input of the type-2 merge)
-- inputs: staging.stg_crm__customers, core.dim_employee, _load_batches
-- write: scd2 spec=customer
with customers as (
    select * from staging.stg_crm__customers
    where _batch_id in (select batch_id from _load_batches)
      and customer_code is not null and updated_at is not null
),

reps as (
    select _src_id, employee_id from core.dim_employee
),

final as (
    select
        c.customer_code as customer_id, 'crm' as source, c.name, c.email, c.phone, c.city, c.region,
        c.segment, c.acquisition_channel, c.status, r.employee_id as sales_rep_id, c.signup_date,
        c.is_deleted, c.customer_id as _src_id, coalesce(c.created_at, c.updated_at) as _created_at,
        c.updated_at as _updated_at, c._batch_id
    from customers c
    left join reps r on r._src_id = c.sales_rep_id
)

select * from final
