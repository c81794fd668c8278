-- grain: one row per customer of _churn_offer_customers (customers who need an offer)
-- The fallback retention offer: among the $top_products products with the most buyers in the
-- $popularity_days days before $as_of (merchandise only; ties by product id), the most popular one
-- the customer has never bought; a customer who bought all of them gets the most popular one again.
with

recent_sales as (
    select s.customer_id::varchar as customer_id, s.product_id, s.product_key
    from core.fct_sales_line as s
    where s.customer_id is not null and not coalesce(s.is_cancelled, false) and not coalesce(s.is_return, false)
        and coalesce(s.is_merchandise, true)
        and s.order_ts < $as_of::date and s.order_ts >= $as_of::date - $popularity_days::integer
),

popular as (
    select product_id, count(distinct customer_id) as buyers, min(product_key) as product_key
    from recent_sales
    group by product_id
    order by buyers desc, product_id
    limit $top_products::integer
),

ranked as (
    select p.product_id, p.buyers, row_number() over (order by p.buyers desc, p.product_id) as popularity_rank,
           coalesce(d.name, p.product_id) as product_name
    from popular as p
    left join core.dim_product as d on d.product_key = p.product_key
),

-- only the popular products matter: which of them each customer already bought
bought as (
    select distinct s.customer_id::varchar as customer_id, s.product_id
    from core.fct_sales_line as s
    inner join popular as p on p.product_id = s.product_id
    where s.customer_id is not null and s.order_ts < $as_of::date and not coalesce(s.is_return, false)
),

not_bought as (
    select c.customer_id, r.product_name as offer,
           'popular now (' || r.buyers || ' buyers in ' || $popularity_days::integer
               || ' days) and not bought yet' as offer_reason
    from _churn_offer_customers as c
    cross join ranked as r
    anti join bought as b on b.customer_id = c.customer_id and b.product_id = r.product_id
    qualify row_number() over (partition by c.customer_id order by r.popularity_rank) = 1
),

final as (
    select c.customer_id, coalesce(n.offer, r.product_name) as offer,
           coalesce(n.offer_reason, 'best seller now (' || r.buyers || ' buyers in '
               || $popularity_days::integer || ' days); bought it before') as offer_reason
    from _churn_offer_customers as c
    left join not_bought as n on n.customer_id = c.customer_id
    left join ranked as r on r.popularity_rank = 1
    where coalesce(n.offer, r.product_name) is not null
)

select * from final
