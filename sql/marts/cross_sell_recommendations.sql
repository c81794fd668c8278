-- grain: one row per customer per recommended product (top N per customer)
-- Parameters: $as_of_end (exclusive end of the lookback), $lookback_start, $top_n.
-- Needs the temp table _mining_rules (single-consequent rules of the overall scope, with names).
with

lookback_lines as (
    select customer_id, trim(product_id) as product_id, quantity, is_return, is_cancelled
    from core.fct_sales_line
    where customer_id is not null
      and order_ts >= $lookback_start and order_ts < $as_of_end
),

held as (
    select distinct customer_id, product_id from lookback_lines
    where not is_return and not is_cancelled and quantity > 0
),

returned as (
    select distinct customer_id, product_id from lookback_lines
    where is_return or quantity < 0
),

rule_items as (
    select rule_id, antecedent_len, unnest(antecedent) as product_id from _mining_rules
),

matched as (
    -- rules whose every antecedent product the customer holds
    select h.customer_id, r.rule_id
    from held as h
    join rule_items as r using (product_id)
    group by h.customer_id, r.rule_id
    having count(*) = any_value(r.antecedent_len)
),

candidates as (
    select
        m.customer_id,
        r.consequent[1] as product_id,
        r.consequent_names[1] as product_name,
        r.rule_id,
        r.confidence,
        r.lift,
        r.both_count,
        r.antecedent_names,
        row_number() over (
            partition by m.customer_id, r.consequent[1]
            order by r.confidence desc, r.lift desc, r.both_count desc, r.rule_id
        ) as rule_rank
    from matched as m
    join _mining_rules as r using (rule_id)
    where r.lift > 1
      and not exists (select 1 from held as h where h.customer_id = m.customer_id and h.product_id = r.consequent[1])
      and not exists (select 1 from returned as x where x.customer_id = m.customer_id and x.product_id = r.consequent[1])
),

ranked as (
    select
        *,
        row_number() over (partition by customer_id order by confidence desc, lift desc, both_count desc, product_id)
            as recommendation_rank
    from candidates
    where rule_rank = 1
),

final as (
    select
        customer_id,
        recommendation_rank::integer as recommendation_rank,
        product_id,
        product_name,
        confidence as score,
        lift,
        rule_id,
        'bought ' || array_to_string(antecedent_names, ' and ') || ': '
            || cast(round(100 * confidence) as integer) || '% of such baskets also hold ' || product_name
            || ' (lift ' || printf('%.1f', lift) || ')' as reason,
        cast($as_of_end as timestamp) as as_of_end
    from ranked
    where recommendation_rank <= $top_n
)

select * from final
