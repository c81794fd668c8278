-- grain: one row per payments source row per batch (typed; money DECIMAL)
with source as (
    select * from raw.crm__payments where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(payment_id as bigint) as payment_id,
        try_cast(order_id as bigint) as order_id,
        try_cast(customer_id as bigint) as customer_id,
        try_cast(due_date as date) as due_date,
        staging.utc_timestamp(paid_at) as paid_at,
        try_cast(amount as decimal(18, 2)) as amount,
        lower(staging.clean_text(method)) as method,
        try_cast(contract_id as bigint) as contract_id,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
)

select * from final
