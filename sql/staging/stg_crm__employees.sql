-- grain: one row per employees source row per batch (typed, trimmed; latest updated_at per employee_id kept)
with source as (
    select * from raw.crm__employees where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(employee_id as bigint) as employee_id,
        staging.clean_text(employee_code) as employee_code,
        staging.clean_text(name) as name,
        lower(staging.clean_text(role)) as role,
        staging.clean_text(team) as team,
        staging.clean_text(region) as region,
        try_cast(hire_date as date) as hire_date,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
)

select * from final
