-- grain: one row per contract that started before $as_of (renewal features as of its feature date, and its
-- outcome where known)
-- inputs: core.fct_contract, core.fct_service_step, core.fct_service_ticket, core.fct_payment, core.dim_product
-- write: read by warehouse/renewals.py (the model), not stored
-- feature_date = least(end_date - $decision_days, $as_of): what was known when the customer decided (or now,
-- for contracts still to be decided). Counts are over [feature_date - $window_days, feature_date).
-- not_renewed: false when a contract renewing it starts within $grace_days of its end; true when its end is at
-- least $grace_days before $as_of with no such contract; NULL otherwise (still open) and for contracts that
-- ended early (terminated: they never came up for renewal).
with contracts as (
    select
        k.*,
        least(k.end_date - to_days($decision_days::integer), $as_of::date)::timestamp as feature_ts
    from core.fct_contract k
    where k.start_date < $as_of::date
),

successor as (
    select c.contract_id, min(s.start_date) as next_start
    from contracts c join core.fct_contract s on s.renewed_from_contract_id = c.contract_id
    group by all
),

filings as (
    select
        c.contract_id,
        count(*) filter (where f.due_at >= c.feature_ts - to_days($window_days::integer)) as filings_due,
        count(*) filter (where f.due_at >= c.feature_ts - to_days($window_days::integer)
                           and (f.completed_at is null or f.completed_at > f.due_at)) as late_filings,
        arg_max(case when f.completed_at is not null and f.completed_at <= c.feature_ts
                     then greatest(ceil(date_diff('second', f.due_at, f.completed_at) / 86400.0), 0)
                     else ceil(date_diff('second', f.due_at, c.feature_ts) / 86400.0) end,
                -- filings due at the same time are ordered by step id: without it the pick among the
                -- tied ones varied between runs (and with it the model and every published score)
                (f.due_at, f.step_id)) as days_late_last_filing
    from contracts c
    join core.fct_service_step f on f.customer_id = c.customer_id and f.is_filing and f.due_at < c.feature_ts
    group by all
),

tickets as (
    select
        c.contract_id,
        count(*) filter (where t.ticket_type = 'complaint') as complaints,
        count(*) filter (where coalesce(t.first_response_at, c.feature_ts) > t.opened_at + to_hours($sla_hours::integer)
                           and t.opened_at + to_hours($sla_hours::integer) < c.feature_ts) as ticket_sla_breaches
    from contracts c
    join core.fct_service_ticket t on t.customer_id = c.customer_id
        and t.opened_at >= c.feature_ts - to_days($window_days::integer) and t.opened_at < c.feature_ts
    group by all
),

payments as (
    select
        c.contract_id,
        avg(case when p.paid_at is not null and p.paid_at <= c.feature_ts
                 then greatest(date_diff('day', p.due_date, p.paid_at::date), 0)
                 else date_diff('day', p.due_date, c.feature_ts::date) end) as payment_days_late
    from contracts c
    join core.fct_payment p on p.customer_id = c.customer_id
        and p.due_date >= (c.feature_ts - to_days($window_days::integer))::date and p.due_date < c.feature_ts::date
    group by all
),

list_price as (
    select product_id, unit_price from core.dim_product where is_current
),

final as (
    select
        c.contract_id, c.customer_id, c.product_id, c.service_category, c.owner_rep_id, c.start_date, c.end_date,
        c.feature_ts::date as feature_date, c.billing_period, c.fee, c.annual_value, c.renewal_fee, c.auto_renew, c.chain_position,
        c.status, c.is_terminated_early, c.renewed_by_contract_id,
        coalesce(f.late_filings, 0)::integer as late_filings, coalesce(f.filings_due, 0)::integer as filings_due,
        coalesce(f.days_late_last_filing, 0)::integer as days_late_last_filing,
        coalesce(t.complaints, 0)::integer as complaints,
        coalesce(t.ticket_sla_breaches, 0)::integer as ticket_sla_breaches,
        coalesce(p.payment_days_late, 0)::double as payment_days_late,
        coalesce(case when c.renewal_notice_at <= c.feature_ts then c.renewal_fee end, lp.unit_price)::double
            / nullif(c.fee, 0)::double - 1 as price_change_pct,
        c.renewal_notice_at is not null and c.renewal_notice_at <= c.feature_ts as renewal_quoted,
        ln(1 + greatest(c.annual_value, 0)::double) as log_annual_value,
        case when c.is_terminated_early then null
             when s.next_start is not null and s.next_start <= c.end_date + to_days($grace_days::integer) then false
             when c.end_date + to_days($grace_days::integer) <= $as_of::date then true
        end as not_renewed
    from contracts c
    left join successor s on s.contract_id = c.contract_id
    left join filings f on f.contract_id = c.contract_id
    left join tickets t on t.contract_id = c.contract_id
    left join payments p on p.contract_id = c.contract_id
    left join list_price lp on lp.product_id = c.product_id
)

select * from final
order by contract_id
