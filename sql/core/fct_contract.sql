-- model: core.fct_contract
-- grain: one row per contract of the customers touched by the batches loaded (every contract of theirs, so
--   the renewal chains are rebuilt whole)
-- inputs: staging.stg_crm__contracts, staging.stg_crm__opportunities, staging.stg_crm__products,
--   _load_batches, _loadable_batches, _crm_customer_ids, _customer_versions, _product_versions, core.dim_employee
-- write: upsert key=contract_id
-- drivers: staging.stg_crm__contracts
-- A chain starts at a contract that renews none (or one not loaded); renewed_by is the contract that
-- names this one as renewed_from (the earliest if several, the smaller number if they start the same day); gap_days_from_previous = days between the
-- previous contract's last day and this one's first day, minus one (0 = seamless).
with recursive touched as (
    select customer_id from staging.stg_crm__contracts where _batch_id in (select batch_id from _load_batches)
),

contracts as (
    select * from staging.stg_crm__contracts
    where customer_id in (select customer_id from touched) and _batch_id in (select batch_id from _loadable_batches)
      and contract_number is not null
    qualify row_number() over (partition by contract_id order by updated_at desc nulls last, _batch_id desc) = 1
),

live as (
    select * from contracts where not is_deleted
),

chain (contract_id, chain_root, chain_position) as (
    select contract_id, contract_id, 1 from live
    where renewed_from_contract_id is null or renewed_from_contract_id not in (select contract_id from live)
    union all
    select l.contract_id, c.chain_root, c.chain_position + 1
    from live l join chain c on l.renewed_from_contract_id = c.contract_id
    where c.chain_position < 1000
),

successors as (
    select renewed_from_contract_id as contract_id, arg_min(contract_number, (start_date, contract_number)) as renewed_by
    from live where renewed_from_contract_id is not null
    group by all
),

opportunities as (
    select opportunity_id, opportunity_code from staging.stg_crm__opportunities
    where opportunity_id in (select opportunity_id from contracts)
      and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by opportunity_id order by updated_at desc nulls last, _batch_id desc) = 1
),

products as (
    select product_code, category from staging.stg_crm__products
    where product_code in (select product_code from contracts) and _batch_id in (select batch_id from _loadable_batches)
    qualify row_number() over (partition by product_code order by updated_at desc nulls last, _batch_id desc) = 1
),

final as (
    select
        k.contract_number as contract_id, cu.customer_id, k.product_code as product_id, p.category as service_category,
        k.owner_id as employee_src_id, k.agent_id as agent_src_id, op.opportunity_code as opportunity_id,
        k.signed_at, k.start_date, k.end_date, date_diff('day', k.start_date, k.end_date) + 1 as term_days,
        k.billing_period, k.fee,
        k.fee * case k.billing_period when 'monthly' then 12 when 'quarterly' then 4 else 1 end as annual_value,
        k.auto_renew, k.renewal_fee, k.renewal_notice_at,
        round(k.renewal_fee / nullif(k.fee, 0) - 1, 4)::double as price_change_pct,
        prev.contract_number as renewed_from_contract_id, s.renewed_by as renewed_by_contract_id,
        root.contract_number as chain_id, ch.chain_position,
        date_diff('day', prev.end_date, k.start_date) - 1 as gap_days_from_previous,
        k.status, k.terminated_at, k.termination_reason,
        coalesce(k.terminated_at < k.end_date, false) as is_terminated_early,
        least(k.end_date, coalesce(k.terminated_at, k.end_date)) as effective_end_date,
        s.renewed_by is not null as is_renewed,
        k.contract_id as _src_id, k.is_deleted, k.updated_at as _updated_at, k._batch_id
    from contracts k
    left join chain ch on ch.contract_id = k.contract_id
    left join contracts root on root.contract_id = ch.chain_root
    left join contracts prev on prev.contract_id = k.renewed_from_contract_id
    left join successors s on s.contract_id = k.contract_id
    left join opportunities op on op.opportunity_id = k.opportunity_id
    left join products p on p.product_code = k.product_code
    left join _crm_customer_ids cu on cu._src_id = k.customer_id
)

-- conformed keys: the customer and product versions at start_date
-- (customer 0 = unknown), the employees, the date keys
select n.*,
       coalesce(c.customer_key, 0) as customer_key,
       p.product_key,
       e0.employee_key as owner_key, e0.employee_id as owner_rep_id,
       e1.employee_key as agent_key, e1.employee_id as agent_id,
       core.date_key(n.start_date) as start_date_key,
       core.date_key(n.end_date) as end_date_key
from final n
left join _customer_versions c on c.customer_id = n.customer_id
    and core.valid_at(n.start_date, c._valid_from, c._valid_to)
left join _product_versions p on p.product_id = n.product_id
    and core.valid_at(n.start_date, p._valid_from, p._valid_to)
left join core.dim_employee e0 on e0._src_id = n.employee_src_id
left join core.dim_employee e1 on e1._src_id = n.agent_src_id
