-- grain: one row per file-drop line per batch (canonical sales line, typed; profile rules applied)
with source as (
    select * from raw.files__sales_lines where _batch_id in (select batch_id from _stage_batches)
),

cleaned as (
    select
        *,
        staging.clean_text(order_id) as order_id_t,
        nullif(regexp_replace(staging.clean_text(customer_id), $customer_id_strip, ''), '') as customer_id_t,
        coalesce(staging.utc_timestamp(order_ts), try_strptime(staging.clean_text(order_ts), $timestamp_formats)) as order_ts_t
    from source
),

typed as (
    select
        _batch_id, _source_row, _source, _extracted_at, _file_name, _profile,
        -- the mapped raw text under canonical names (the file's own record stays in raw._record)
        json_object('order_id', order_id, 'line_number', line_number, 'product_code', product_code,
                    'description', description, 'quantity', quantity, 'unit_price', unit_price,
                    'discount', discount, 'order_ts', order_ts, 'customer_id', customer_id,
                    'country', country, 'currency', currency, 'channel', channel)::varchar as _raw,
        order_id_t as order_id,
        coalesce(try_cast(line_number as integer),
                 row_number() over (partition by _batch_id, order_id_t order by _source_row)::integer) as line_number,
        case when $fold_codes then upper(staging.clean_text(product_code)) else staging.clean_text(product_code) end
            as product_code,
        staging.clean_text(description) as description,
        try_cast(staging.clean_text(quantity) as integer) as quantity,
        try_cast(staging.clean_text(unit_price) as decimal(18, 4)) as unit_price,
        try_cast(coalesce(staging.clean_text(discount), '0') as decimal(18, 2)) as discount,
        order_ts_t as order_ts,
        case when customer_id_t is null then null else _profile || ':' || customer_id_t end as customer_id,
        staging.clean_text(country) as country,
        upper(coalesce(staging.clean_text(currency), $default_currency)) as currency,
        lower(coalesce(staging.clean_text(channel), $default_channel)) as channel,
        coalesce($cancel_prefix <> '' and starts_with(upper(order_id_t), upper($cancel_prefix)), false)
            as is_cancelled
    from cleaned
),

final as (
    select
        *,
        _profile || ':' || order_id || ':' || line_number as sales_line_id,
        -- a file line's business key: every field of the line (an exact repeat inside one drop is a duplicate)
        concat_ws('|', order_id, product_code, quantity, unit_price, order_ts, customer_id) as business_key,
        coalesce(is_cancelled or quantity < 0, false) as is_return
    from typed
)

select * from final
