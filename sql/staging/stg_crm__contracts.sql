-- grain: one row per contracts source row per batch (typed; product_code trimmed like the products' codes, money DECIMAL, dates DATE)
with source as (
    select * from raw.crm__contracts where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(contract_id as bigint) as contract_id,
        staging.clean_text(contract_number) as contract_number,
        try_cast(customer_id as bigint) as customer_id,
        try_cast(opportunity_id as bigint) as opportunity_id,
        {fold_code}(staging.clean_text(product_code)) as product_code,
        try_cast(owner_id as bigint) as owner_id,
        try_cast(agent_id as bigint) as agent_id,
        staging.utc_timestamp(signed_at) as signed_at,
        try_cast(start_date as date) as start_date,
        try_cast(end_date as date) as end_date,
        lower(staging.clean_text(billing_period)) as billing_period,
        try_cast(fee as decimal(18, 2)) as fee,
        try_cast(auto_renew as boolean) as auto_renew,
        try_cast(renewal_fee as decimal(18, 2)) as renewal_fee,
        staging.utc_timestamp(renewal_notice_at) as renewal_notice_at,
        try_cast(renewed_from_contract_id as bigint) as renewed_from_contract_id,
        lower(staging.clean_text(status)) as status,
        try_cast(terminated_at as date) as terminated_at,
        lower(staging.clean_text(termination_reason)) as termination_reason,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
)

select * from final
