-- grain: one row per customer per as-of date (customers with a purchase before the as-of date)
-- The churn label (non-contractual churn): a customer who bought in the look-back window
-- [as_of - $lookback_days, as_of) and makes no purchase in [as_of, as_of + $horizon_days) is churned.
-- The label is known only once the whole horizon lies before $data_end (data strictly before it);
-- otherwise churned is NULL. It reads data after the as-of date, so it is never a feature.
with

as_of_dates as (
    select distinct as_of::date as as_of from _churn_as_of
),

purchase_days as (
    select distinct customer_id::varchar as customer_id, order_ts::date as day
    from core.fct_sales_line
    where customer_id is not null and not coalesce(is_cancelled, false) and not coalesce(is_return, false)
),

around_as_of as (
    select
        a.as_of,
        p.customer_id,
        max(p.day) filter (where p.day < a.as_of) as last_purchase_before,
        min(p.day) filter (where p.day >= a.as_of) as next_purchase_date
    from as_of_dates as a
    inner join purchase_days as p on p.day < a.as_of + $horizon_days::integer
    group by all
),

final as (
    select
        customer_id,
        as_of,
        (last_purchase_before >= as_of - $lookback_days::integer) as active_in_lookback,
        (as_of + $horizon_days::integer <= $data_end::date) as label_observed,
        case
            when last_purchase_before >= as_of - $lookback_days::integer
                and as_of + $horizon_days::integer <= $data_end::date
                then next_purchase_date is null
        end as churned,
        case when as_of + $horizon_days::integer <= $data_end::date then next_purchase_date end
            as next_purchase_date
    from around_as_of
    where last_purchase_before is not null
)

select * from final
order by as_of, customer_id
