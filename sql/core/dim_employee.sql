-- model: core.dim_employee
-- grain: one row per employee (type 1: the latest staged version of each employee in the batches loaded)
-- inputs: staging.stg_crm__employees, _load_batches
-- write: custom
with employees as (
    select * from staging.stg_crm__employees
    where _batch_id in (select batch_id from _load_batches) and employee_code is not null
),

final as (
    select
        employee_code as employee_id, name, role, team, region, hire_date, is_deleted,
        employee_id as _src_id, updated_at as _updated_at, _batch_id
    from employees
    qualify row_number() over (partition by employee_code order by updated_at desc nulls last, _batch_id desc) = 1
)

select * from final
