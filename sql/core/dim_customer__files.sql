-- model: core.dim_customer
-- grain: one row per file-drop customer not yet in dim_customer (first sighting; files carry no history)
-- inputs: staging.stg_files__sales_lines, core.dim_customer, _load_batches
-- write: scd2 spec=customer
with lines as (
    select * from staging.stg_files__sales_lines
    where _batch_id in (select batch_id from _load_batches) and customer_id is not null and order_ts is not null
),

final as (
    select
        customer_id, any_value(_profile) as source, null::varchar as name, null::varchar as email,
        null::varchar as phone, null::varchar as city, arg_max(country, order_ts) as region,
        null::varchar as segment, null::varchar as acquisition_channel, null::varchar as status,
        null::varchar as sales_rep_id, null::date as signup_date, false as is_deleted, null::bigint as _src_id,
        min(order_ts) as _created_at, min(order_ts) as _updated_at, min(_batch_id) as _batch_id
    from lines
    where customer_id not in (select customer_id from core.dim_customer)
    group by customer_id
)

select * from final
