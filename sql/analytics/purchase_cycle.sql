-- grain: one row (the purchase cycle of the whole customer base before $before)
-- Days between consecutive purchase days of the same customer (returns and cancelled orders are not
-- purchases; guest sales are left out), over every purchase day strictly before $before: the
-- $quantile quantile of those gaps and how many gaps it is taken from. The churn horizon derives from it.
with

purchase_days as (
    select distinct customer_id::varchar as customer_id, order_ts::date as day
    from core.fct_sales_line
    where customer_id is not null and not coalesce(is_cancelled, false) and not coalesce(is_return, false)
        and order_ts < $before::date
),

gaps as (
    select date_diff('day', lag(day) over (partition by customer_id order by day), day) as gap_days
    from purchase_days
),

final as (
    select quantile_cont(gap_days, $quantile::double) as gap_quantile_days, count(gap_days) as gaps
    from gaps
    where gap_days is not null
)

select * from final
