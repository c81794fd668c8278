-- grain: one row per customers source row per batch (typed, trimmed; latest updated_at per customer_id kept)
with source as (
    select * from raw.crm__customers where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(customer_id as bigint) as customer_id,
        staging.clean_text(customer_code) as customer_code,
        staging.clean_text(name) as name,
        staging.clean_text(email) as email,
        staging.clean_text(phone) as phone,
        staging.clean_text(city) as city,
        staging.clean_text(region) as region,
        lower(staging.clean_text(segment)) as segment,
        lower(staging.clean_text(acquisition_channel)) as acquisition_channel,
        lower(staging.clean_text(status)) as status,
        try_cast(sales_rep_id as bigint) as sales_rep_id,
        try_cast(signup_date as date) as signup_date,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
)

select * from final
