-- grain: one row per orders source row per batch (typed, trimmed; money DECIMAL; the exchange rate of the
-- order's currency into the reporting currency at the order time attached from core.fx_rates, see
-- warehouse/ingest/currency.py: NULL when there is none, and validation quarantines the order)
with source as (
    select * from raw.crm__orders where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(order_id as bigint) as order_id,
        staging.clean_text(order_number) as order_number,
        try_cast(customer_id as bigint) as customer_id,
        staging.utc_timestamp(order_ts) as order_ts,
        lower(staging.clean_text(channel)) as channel,
        try_cast(sales_rep_id as bigint) as sales_rep_id,
        lower(staging.clean_text(status)) as status,
        try_cast(order_total as decimal(18, 2)) as order_total,
        upper(staging.clean_text(currency)) as currency,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted
    from source
),

rated as (
    select f.*,
           case when coalesce(f.currency, {reporting_currency}) = {reporting_currency} then 1::decimal(18, 8)
                else fx.rate end as fx_rate
    from final f
    left join core.fx_rates fx
      on coalesce(f.currency, {reporting_currency}) <> {reporting_currency} and fx.currency = f.currency
     and coalesce(f.order_ts, '-infinity'::timestamp) >= fx.valid_from
     and coalesce(f.order_ts, '-infinity'::timestamp) < fx.valid_to
)

select * from rated
