-- grain: one row per file-drop line per batch (canonical sales line, typed; profile rules applied)
-- Numbers are parsed strictly as the batch's profile declares them ({quantity}, {exact_quantity},
-- {unit_price}, {discount}, {line_number}: warehouse/ingest/file_staging.py), numeric dates in the date order
-- decided for the file ($timestamp_formats); free text is masked for personal data (_crmwh_mask_pii);
-- the exchange rate into the reporting currency is attached from core.fx_rates (reference data), so
-- validation can quarantine a line whose currency has no rate.
with source as (
    select * from raw.files__sales_lines where _batch_id in (select batch_id from _stage_batches)
),

cleaned as (
    select
        *,
        staging.clean_text(order_id) as order_id_t,
        nullif(regexp_replace(staging.clean_text(customer_id), $customer_id_strip, ''), '') as customer_id_t,
        staging.clean_text(order_ts) as order_ts_text,
        coalesce(staging.utc_timestamp(order_ts), try_strptime(staging.clean_text(order_ts), $timestamp_formats))
            as order_ts_t,
        staging.clean_text(description) as description_t,
        staging.clean_text(country) as country_t,
        upper(coalesce(staging.clean_text(currency), $default_currency)) as currency_t,
        staging.clean_text(quantity) as quantity_t,
        staging.clean_text(unit_price) as unit_price_t,
        staging.clean_text(discount) as discount_t,
        staging.clean_text(line_number) as line_number_t
    from source
),

parsed as (
    select
        *,
        {exact_quantity} as exact_quantity_p,
        {unit_price} as unit_price_p,
        {discount} as discount_p,
        {line_number} as line_number_p,
        _crmwh_mask_pii(description_t) as description_m,
        _crmwh_pseudonym(customer_id_t) as customer_id_m,
        _crmwh_mask_pii(country_t) as country_m,
        nullif(concat_ws('; ', {underflow}), '') as underflow_p
    from cleaned
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
        line_number_p as _line_number_given,
        case when $fold_codes then upper(staging.clean_text(product_code)) else staging.clean_text(product_code) end
            as product_code,
        description_m as description,
        {quantity} as quantity,
        exact_quantity_p as exact_quantity,
        unit_price_p as unit_price,
        coalesce(discount_p, case when discount_t is null then 0 end)::decimal(18, 2) as discount,
        order_ts_t as order_ts,
        case when order_ts_t is null and order_ts_text is not null
             then try_strptime(order_ts_text, $against_formats) is not null else false end as _date_order_conflict,
        $date_order_text as _date_order,
        case when customer_id_t is null then null else _profile || ':' || customer_id_m end as customer_id,
        country_m as country,
        currency_t as currency,
        lower(coalesce(staging.clean_text(channel), $default_channel)) as channel,
        coalesce($cancel_prefix <> '' and starts_with(upper(order_id_t), upper($cancel_prefix)), false)
            as is_cancelled,
        nullif(concat_ws(', ',
            case when description_t is distinct from description_m then 'description' end,
            case when customer_id_t is distinct from customer_id_m then 'customer_id' end,
            case when country_t is distinct from country_m then 'country' end), '') as _pii_masked,
        underflow_p as _underflow
    from parsed
),

numbered as (
    select
        *,
        coalesce(_line_number_given,
                 row_number() over (partition by _batch_id, order_id order by _source_row)::integer) as line_number,
        -- a line's business key: every field of the line (an exact repeat inside one drop is a duplicate)
        concat_ws('|', coalesce(order_id, ''), coalesce(product_code, ''),
                  coalesce(exact_quantity::varchar, quantity::varchar, ''), coalesce(unit_price::varchar, ''),
                  coalesce(discount::varchar, ''), coalesce(order_ts::varchar, ''), coalesce(customer_id, ''))
            as business_key
    from typed
),

rated as (
    select n.*,
           case when n.currency = $reporting_currency then 1::decimal(18, 8) else fx.rate end as fx_rate
    from numbered n
    left join core.fx_rates fx
      on n.currency <> $reporting_currency and fx.currency = n.currency
     and coalesce(n.order_ts, '-infinity'::timestamp) >= fx.valid_from and coalesce(n.order_ts, '-infinity'::timestamp) < fx.valid_to
),

final as (
    select
        * exclude (_line_number_given),
        -- a line's identity does not depend on the file it came in: the source's own line number when
        -- the file gives one, else the line's content (an order split over files keeps every line)
        case when order_id is null then null
             when _line_number_given is not null then _profile || ':' || order_id || ':' || _line_number_given
             else _profile || ':' || order_id || ':h' || left(md5(business_key), 16) end as sales_line_id,
        coalesce(is_cancelled or quantity < 0, false) as is_return
    from rated
)

select * from final
