-- grain: one row per acquisition month per month since first purchase (every complete month before
-- the month of $as_of, with 0 where no cohort customer bought)
-- Acquisition month = month of a customer's first purchase; a customer is active in a month when it
-- buys in it. retention_rate = active / cohort size; revenue_retained = the month's net revenue of the
-- cohort / its net revenue in its acquisition month.
with

purchases as (
    select customer_id::varchar as customer_id, order_ts, net_amount, is_return
    from core.fct_sales_line
    where customer_id is not null and not coalesce(is_cancelled, false)
        and order_ts < date_trunc('month', $as_of::date)
),

first_purchase as (
    select customer_id, date_trunc('month', min(order_ts))::date as cohort_month
    from purchases
    where not is_return
    group by all
),

monthly_activity as (
    select
        p.customer_id,
        date_trunc('month', p.order_ts)::date as activity_month,
        bool_or(not p.is_return) as bought,
        -- DECIMAL to the end: a sum of DOUBLEs depends on the order the rows arrive in (run to run)
        sum(p.net_amount) as revenue
    from purchases as p
    group by all
),

activity as (
    select
        f.cohort_month,
        date_diff('month', f.cohort_month, m.activity_month)::integer as months_since_first_purchase,
        -- monthly_activity has one row per customer and month: counting rows counts customers
        count(*) filter (where m.bought) as customers_active,
        sum(m.revenue) as revenue
    from first_purchase as f
    inner join monthly_activity as m on m.customer_id = f.customer_id and m.activity_month >= f.cohort_month
    group by all
),

-- every month from the acquisition month to the last complete month, active or not
spine as (
    select distinct
        f.cohort_month,
        unnest(range(0, date_diff('month', f.cohort_month, date_trunc('month', $as_of::date)::date)))::integer
            as months_since_first_purchase
    from first_purchase as f
),

cohort_months as (
    select
        s.cohort_month,
        s.months_since_first_purchase,
        coalesce(a.customers_active, 0) as customers_active,
        coalesce(a.revenue, 0) as revenue
    from spine as s
    left join activity as a using (cohort_month, months_since_first_purchase)
),

cohort_sizes as (
    select cohort_month, count(*) as cohort_size from first_purchase group by all
),

final as (
    select
        c.cohort_month,
        c.months_since_first_purchase,
        s.cohort_size::integer as cohort_size,
        c.customers_active::integer as customers_active,
        round(c.customers_active / s.cohort_size, 4)::double as retention_rate,
        round(c.revenue, 2)::double as revenue,
        round(c.revenue / nullif(first_value(c.revenue) over (
            partition by c.cohort_month order by c.months_since_first_purchase), 0), 4)::double
            as revenue_retained
    from cohort_months as c
    inner join cohort_sizes as s on s.cohort_month = c.cohort_month
)

select * from final
order by cohort_month, months_since_first_purchase
