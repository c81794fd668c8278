-- grain: one row per service_orders source row per batch (typed; process and status codes lower-cased, product_code trimmed like the products' codes)
with source as (
    select * from raw.crm__service_orders where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(service_order_id as bigint) as service_order_id,
        staging.clean_text(service_order_number) as service_order_number,
        try_cast(order_id as bigint) as order_id,
        try_cast(contract_id as bigint) as contract_id,
        try_cast(customer_id as bigint) as customer_id,
        {fold_code}(staging.clean_text(product_code)) as product_code,
        lower(staging.clean_text(process)) as process,
        try_cast(agent_id as bigint) as agent_id,
        staging.utc_timestamp(opened_at) as opened_at,
        staging.utc_timestamp(closed_at) as closed_at,
        lower(staging.clean_text(status)) as status,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
)

select * from final
