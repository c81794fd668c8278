-- grain: one row per file-drop line per batch (canonical sales line, typed; profile rules applied)
with source as (
    select * from raw.files__sales_lines where _batch_id in (select batch_id from _stage_batches)
),

cleaned as (
    select
        *,
        nullif(trim(order_id), '') as order_id_t,
        nullif(regexp_replace(trim(customer_id), $customer_id_strip, ''), '') as customer_id_t,
        coalesce(try_cast(trim(order_ts) as timestamp), try_strptime(trim(order_ts), $timestamp_formats)) as order_ts_t
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
        case when $fold_codes then upper(nullif(trim(product_code), '')) else nullif(trim(product_code), '') end
            as product_code,
        nullif(trim(description), '') as description,
        try_cast(trim(quantity) as integer) as quantity,
        try_cast(trim(unit_price) as decimal(18, 4)) as unit_price,
        try_cast(coalesce(nullif(trim(discount), ''), '0') as decimal(18, 2)) as discount,
        order_ts_t as order_ts,
        case when customer_id_t is null then null else _profile || ':' || customer_id_t end as customer_id,
        nullif(trim(country), '') as country,
        upper(coalesce(nullif(trim(currency), ''), $default_currency)) as currency,
        lower(coalesce(nullif(trim(channel), ''), $default_channel)) as channel,
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
