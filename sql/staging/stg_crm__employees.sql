-- grain: one row per employees source row per batch (typed, trimmed; latest updated_at per employee_id kept)
with source as (
    select * from raw.crm__employees where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(employee_id as bigint) as employee_id,
        nullif(trim(employee_code), '') as employee_code,
        nullif(trim(name), '') as name,
        lower(nullif(trim(role), '')) as role,
        nullif(trim(team), '') as team,
        nullif(trim(region), '') as region,
        try_cast(hire_date as date) as hire_date,
        try_cast(created_at as timestamp) as created_at,
        try_cast(updated_at as timestamp) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
)

select * from final
