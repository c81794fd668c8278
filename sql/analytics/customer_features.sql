-- grain: one row per customer per as-of date (customers with at least one purchase before the as-of date)
-- Point in time: every input row is filtered to strictly before the as-of date (order_ts, opened_at,
-- occurred_at, resolved_at, first_response_at, paid_at, due_date < as_of), so adding later data never
-- changes the features of an earlier as-of date. Money is summed as DECIMAL and ratios are rounded to 6
-- places, so the parallel summation order cannot change a value either. Parameters: $sla_hours (first-response SLA), $slow_hours (slow
-- resolution), $low_satisfaction (highest low satisfaction score).
with

as_of_dates as (
    select distinct as_of::date as as_of, as_of::date::timestamp as as_of_ts
    from _churn_as_of
),

sales as not materialized (
    select customer_id, order_id, order_ts, product_id, product_key, quantity, net_amount, is_return
    from core.fct_sales_line
    where customer_id is not null and not coalesce(is_cancelled, false)
),

products as (
    select product_key, category from core.dim_product
),

-- one row per order, then one row per customer per day with sales activity
sales_orders as (
    select
        customer_id,
        order_id,
        order_ts::date as day,
        bool_or(not is_return) as is_purchase,
        sum(net_amount) as amount,
        coalesce(sum(quantity) filter (where not is_return), 0) as units_bought,
        coalesce(sum(-quantity) filter (where is_return), 0) as units_returned
    from sales
    group by customer_id, order_id, day
),

sales_days as (
    select
        customer_id,
        day,
        count(*) filter (where is_purchase) as orders,
        coalesce(sum(amount), 0)::decimal(18, 2) as amount,
        sum(units_bought) as units_bought,
        sum(units_returned) as units_returned
    from sales_orders
    group by customer_id, day
),

gapped_days as (
    select
        *,
        case when orders > 0 then
            date_diff('day', lag(day) over (partition by customer_id, orders > 0 order by day), day)
        end as gap_days
    from sales_days
),

purchase_windows as materialized (
    select
        a.as_of,
        d.customer_id,
        min(d.day) filter (where d.orders > 0) as first_purchase_date,
        max(d.day) filter (where d.orders > 0) as last_purchase_date,
        count(*) filter (where d.orders > 0) as purchase_days_total,
        sum(d.orders) as orders_total,
        sum(d.amount) as monetary_total,
        coalesce(sum(d.orders) filter (where d.day >= a.as_of - 30), 0) as orders_30d,
        coalesce(sum(d.orders) filter (where d.day >= a.as_of - 90), 0) as orders_90d,
        coalesce(sum(d.orders) filter (where d.day >= a.as_of - 180), 0) as orders_180d,
        coalesce(sum(d.orders) filter (where d.day >= a.as_of - 365), 0) as orders_365d,
        coalesce(sum(d.amount) filter (where d.day >= a.as_of - 30), 0) as monetary_30d,
        coalesce(sum(d.amount) filter (where d.day >= a.as_of - 90), 0) as monetary_90d,
        coalesce(sum(d.amount) filter (where d.day >= a.as_of - 180), 0) as monetary_180d,
        coalesce(sum(d.amount) filter (where d.day >= a.as_of - 365), 0) as monetary_365d,
        coalesce(sum(d.orders) filter (where d.day >= a.as_of - 180 and d.day < a.as_of - 90), 0)
            as orders_prev_90d,
        coalesce(sum(d.amount) filter (where d.day >= a.as_of - 180 and d.day < a.as_of - 90), 0)
            as monetary_prev_90d,
        coalesce(sum(d.units_bought) filter (where d.day >= a.as_of - 365), 0) as units_bought_365d,
        coalesce(sum(d.units_returned) filter (where d.day >= a.as_of - 365), 0)
            as units_returned_365d,
        avg(d.gap_days) as mean_gap_days,
        stddev_pop(d.gap_days) as std_gap_days
    from as_of_dates as a
    inner join gapped_days as d on d.day < a.as_of
    group by all
),

customer_products as (
    select s.customer_id, s.product_id, min(p.category) as category, min(s.order_ts) as first_bought_at
    from sales as s
    left join products as p on p.product_key = s.product_key
    where not s.is_return
    group by all
),

-- one row per customer per moment new products (and maybe a new category) were first bought
breadth_steps as (
    select
        customer_id,
        first_bought_at,
        count(*) as new_products,
        count(*) filter (where category_rank = 1) as new_categories
    from (
        select
            customer_id,
            first_bought_at,
            case when category is not null then
                row_number() over (partition by customer_id, category order by first_bought_at, product_id)
            end as category_rank
        from customer_products
    )
    group by customer_id, first_bought_at
),

breadth_running as (
    select
        customer_id,
        first_bought_at,
        sum(new_products) over w as products_so_far,
        sum(new_categories) over w as categories_so_far
    from breadth_steps
    window w as (partition by customer_id order by first_bought_at)
),

customer_as_of as (
    select as_of, as_of::timestamp as as_of_ts, customer_id from purchase_windows
),

-- as-of join: the latest running counts strictly before the as-of date
product_breadth as (
    select
        c.as_of,
        c.customer_id,
        coalesce(br.products_so_far, 0) as distinct_products,
        coalesce(br.categories_so_far, 0) as distinct_categories
    from customer_as_of as c
    asof left join breadth_running as br
        on br.customer_id = c.customer_id and br.first_bought_at < c.as_of_ts
),

tickets as (
    select
        ticket_id, customer_id, ticket_type, channel, opened_at, first_response_at, resolved_at, satisfaction,
        date_diff('second', opened_at, resolved_at) / 3600.0 as resolution_hours
    from core.fct_service_ticket
    where customer_id is not null
),

ticket_windows as (
    select
        a.as_of,
        t.customer_id,
        count(*) filter (where t.opened_at >= a.as_of_ts - to_days(90)) as tickets_90d,
        count(*) filter (where t.opened_at >= a.as_of_ts - to_days(90) and t.ticket_type = 'complaint')
            as complaints_90d,
        count(*) filter (where t.resolved_at is null or t.resolved_at >= a.as_of_ts) as open_tickets,
        -- the mean of whole seconds (an exact integer sum), not of DOUBLE hours: a DOUBLE sum depends on the
        -- order the rows arrive in, and its last places differed between runs
        avg(date_diff('second', t.opened_at, t.resolved_at)) filter (
            where t.resolved_at < a.as_of_ts and t.opened_at >= a.as_of_ts - to_days(365)
        ) / 3600.0 as mean_resolution_hours,
        max(t.resolution_hours) filter (
            where t.resolved_at < a.as_of_ts and t.opened_at >= a.as_of_ts - to_days(365)
        ) as worst_resolution_hours,
        count(*) filter (
            where t.opened_at >= a.as_of_ts - to_days(90)
            and date_diff(
                'second', t.opened_at,
                case when t.first_response_at < a.as_of_ts then t.first_response_at else a.as_of_ts end
            ) > $sla_hours * 3600
        ) as sla_breaches_90d,
        count(*) filter (
            where t.opened_at >= a.as_of_ts - to_days(90)
            and date_diff(
                'second', t.opened_at,
                case when t.resolved_at < a.as_of_ts then t.resolved_at else a.as_of_ts end
            ) > $slow_hours * 3600
        ) as slow_resolutions_90d,
        count(*) filter (
            where t.opened_at >= a.as_of_ts - to_days(90) and t.satisfaction <= $low_satisfaction
            and coalesce(t.resolved_at, t.first_response_at, t.opened_at) < a.as_of_ts
        ) as low_satisfaction_90d,
        -- tickets answered at the same time: the ticket id decides (a model input: the same rows every run)
        arg_max(t.satisfaction, (coalesce(t.resolved_at, t.first_response_at, t.opened_at), t.ticket_id)) filter (
            where t.satisfaction is not null
            and coalesce(t.resolved_at, t.first_response_at, t.opened_at) < a.as_of_ts
        ) as last_satisfaction
    from as_of_dates as a
    inner join tickets as t on t.opened_at < a.as_of_ts
    group by all
),

contacts as (
    select customer_id, occurred_at as contact_at, channel from core.fct_interaction
    where customer_id is not null
    union all
    select customer_id, opened_at as contact_at, channel from tickets
),

contact_windows as (
    select
        a.as_of,
        c.customer_id,
        max(c.contact_at) as last_contact_at,
        count(*) filter (where c.contact_at >= a.as_of_ts - to_days(365)) as contacts_365d_n,
        count(distinct c.channel) filter (where c.contact_at >= a.as_of_ts - to_days(365))
            as contact_channels_365d_n,
        count(*) filter (
            where c.contact_at >= a.as_of_ts - to_days(365)
            and c.channel in ('web', 'email', 'wechat')
        ) as digital_contacts_365d
    from as_of_dates as a
    inner join contacts as c on c.contact_at < a.as_of_ts
    group by all
),

payment_windows as (
    select
        a.as_of,
        p.customer_id,
        count(*) as payments_due_365d_n,
        count(*) filter (where
            date_diff('day', p.due_date::date,
                least(coalesce(p.paid_at::date, a.as_of), a.as_of)) > 0) as payments_late_365d,
        avg(greatest(0, date_diff('day', p.due_date::date,
            least(coalesce(p.paid_at::date, a.as_of), a.as_of)))) as mean_days_late_365d_v
    from as_of_dates as a
    inner join core.fct_payment as p
        on p.due_date::date < a.as_of and p.due_date::date >= a.as_of - 365
    where p.customer_id is not null
    group by all
),

final as (
    select
        pw.customer_id::varchar as customer_id,
        pw.as_of,
        date_diff('day', pw.last_purchase_date, pw.as_of)::integer as recency_days,
        date_diff('day', pw.first_purchase_date, pw.as_of)::integer as tenure_days,
        pw.first_purchase_date,
        pw.last_purchase_date,
        pw.purchase_days_total::integer as purchase_days_total,
        pw.orders_total::integer as orders_total,
        round(pw.monetary_total, 2)::double as monetary_total,
        pw.orders_30d::integer as orders_30d,
        pw.orders_90d::integer as orders_90d,
        pw.orders_180d::integer as orders_180d,
        pw.orders_365d::integer as orders_365d,
        round(pw.monetary_30d, 2)::double as monetary_30d,
        round(pw.monetary_90d, 2)::double as monetary_90d,
        round(pw.monetary_180d, 2)::double as monetary_180d,
        round(pw.monetary_365d, 2)::double as monetary_365d,
        pw.orders_prev_90d::integer as orders_prev_90d,
        round(pw.monetary_prev_90d, 2)::double as monetary_prev_90d,
        round(pw.mean_gap_days, 6)::double as mean_gap_days,
        round(pw.std_gap_days, 6)::double as std_gap_days,
        round(date_diff('day', pw.last_purchase_date, pw.as_of) / nullif(pw.mean_gap_days, 0), 6)::double
            as recency_gap_ratio,
        (pw.orders_90d - pw.orders_prev_90d)::integer as trend_orders_90d,
        round(coalesce(
            (pw.monetary_90d - pw.monetary_prev_90d)
            / nullif(abs(pw.monetary_90d) + abs(pw.monetary_prev_90d), 0), 0
        ), 6)::double as trend_monetary_90d,
        coalesce(pb.distinct_products, 0)::integer as distinct_products,
        coalesce(pb.distinct_categories, 0)::integer as distinct_categories,
        round(pw.units_returned_365d / nullif(pw.units_bought_365d, 0), 6)::double as return_rate_365d,
        coalesce(tw.tickets_90d, 0)::integer as tickets_90d,
        coalesce(tw.complaints_90d, 0)::integer as complaints_90d,
        coalesce(tw.open_tickets, 0)::integer as open_tickets,
        round(tw.mean_resolution_hours, 6)::double as mean_resolution_hours,
        round(tw.worst_resolution_hours, 6)::double as worst_resolution_hours,
        coalesce(tw.sla_breaches_90d, 0)::integer as sla_breaches_90d,
        coalesce(tw.slow_resolutions_90d, 0)::integer as slow_resolutions_90d,
        coalesce(tw.low_satisfaction_90d, 0)::integer as low_satisfaction_90d,
        tw.last_satisfaction::smallint as last_satisfaction,
        date_diff('day', cw.last_contact_at::date, pw.as_of)::integer as days_since_last_contact,
        coalesce(cw.contacts_365d_n, 0)::integer as contacts_365d,
        coalesce(cw.contact_channels_365d_n, 0)::integer as contact_channels_365d,
        round(cw.digital_contacts_365d / nullif(cw.contacts_365d_n, 0), 6)::double as digital_contact_share_365d,
        coalesce(pay.payments_due_365d_n, 0)::integer as payments_due_365d,
        round(pay.payments_late_365d / nullif(pay.payments_due_365d_n, 0), 6)::double as overdue_share_365d,
        round(pay.mean_days_late_365d_v, 6)::double as mean_days_late_365d,
        (cw.customer_id is not null)::boolean as has_service_history
    from purchase_windows as pw
    left join product_breadth as pb on pb.as_of = pw.as_of and pb.customer_id = pw.customer_id
    left join ticket_windows as tw on tw.as_of = pw.as_of and tw.customer_id = pw.customer_id
    left join contact_windows as cw on cw.as_of = pw.as_of and cw.customer_id = pw.customer_id
    left join payment_windows as pay on pay.as_of = pw.as_of and pay.customer_id = pw.customer_id
    where pw.first_purchase_date is not null
)

select * from final
order by as_of, customer_id
