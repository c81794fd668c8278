-- grain: the services agency's core tables (sales funnel, contracts, service delivery); created empty,
-- filled by warehouse/core/services_load.py (docs/services.md). Conformed to dim_customer, dim_employee,
-- dim_product and dim_date (surrogate keys of the version valid at the event; date keys yyyymmdd).

-- grain: one row per step of a service process, as declared in warehouse/core/rules/service_sla.toml
create table if not exists core.dim_service_step (
    process varchar not null, process_name varchar, step_number integer not null, step_code varchar not null,
    step_name varchar, sla_days integer, due_day_of_next_month integer, is_filing boolean not null,
    primary key (process, step_code)
);

-- grain: one row per lead
create table if not exists core.fct_lead (
    lead_id varchar not null, customer_key bigint not null, customer_id varchar, owner_key bigint,
    owner_rep_id varchar, channel varchar, segment varchar, region varchar, status varchar,
    created_at timestamp, created_date_key integer, converted_at timestamp, disqualified_at timestamp,
    disqualify_reason varchar, is_converted boolean, is_disqualified boolean, opportunity_id varchar,
    is_won boolean, won_at timestamp, days_to_convert double,
    _src_id bigint, _batch_id varchar, _updated_at timestamp, _hash varchar
);

-- grain: one row per opportunity (accumulating snapshot: the first time it entered each stage)
create table if not exists core.fct_opportunity (
    opportunity_id varchar not null, lead_id varchar, customer_key bigint not null, customer_id varchar,
    owner_key bigint, owner_rep_id varchar, product_key bigint, product_id varchar, channel varchar,
    amount decimal(18, 2), first_amount decimal(18, 2), stage varchar, stage_order integer,
    furthest_stage varchar, furthest_stage_order integer, is_open boolean, is_won boolean, is_lost boolean,
    lost_reason varchar, created_at timestamp, new_at timestamp, qualified_at timestamp, proposal_at timestamp,
    negotiation_at timestamp, won_at timestamp, lost_at timestamp, closed_at timestamp, created_date_key integer,
    closed_date_key integer, expected_close_date date, stage_changes integer, backward_moves integer,
    skipped_stages integer, days_to_close double,
    _src_id bigint, _batch_id varchar, _updated_at timestamp, _hash varchar
);

-- grain: one row per opportunity stage change (the stage entered)
create table if not exists core.fct_opportunity_stage (
    stage_change_id varchar not null, opportunity_id varchar not null, change_number integer, stage varchar,
    stage_order integer, previous_stage varchar, previous_stage_order integer, changed_at timestamp,
    date_key integer, changed_by_key bigint, changed_by_id varchar, owner_key bigint, owner_rep_id varchar,
    customer_key bigint not null, customer_id varchar, channel varchar, amount decimal(18, 2),
    days_in_previous_stage double, is_backward boolean, is_skip boolean, stages_skipped integer,
    _src_id bigint, _batch_id varchar, _updated_at timestamp, _hash varchar
);

-- grain: one row per contract (with its place in the renewal chain)
create table if not exists core.fct_contract (
    contract_id varchar not null, customer_key bigint not null, customer_id varchar, product_key bigint,
    product_id varchar, service_category varchar, owner_key bigint, owner_rep_id varchar, agent_key bigint,
    agent_id varchar, opportunity_id varchar, signed_at timestamp, start_date date, end_date date,
    start_date_key integer, end_date_key integer, term_days integer, billing_period varchar,
    fee decimal(18, 2), annual_value decimal(18, 2), auto_renew boolean, renewal_fee decimal(18, 2),
    renewal_notice_at timestamp, price_change_pct double, renewed_from_contract_id varchar,
    renewed_by_contract_id varchar, chain_id varchar, chain_position integer, gap_days_from_previous integer,
    status varchar, terminated_at date, termination_reason varchar, is_terminated_early boolean,
    effective_end_date date, is_renewed boolean,
    _src_id bigint, _batch_id varchar, _updated_at timestamp, _hash varchar
);

-- grain: one row per service process step (due from its SLA, done, SLA met)
create table if not exists core.fct_service_step (
    step_id varchar not null, service_order_id varchar, order_id varchar, contract_id varchar,
    customer_key bigint not null, customer_id varchar, product_key bigint, product_id varchar,
    service_category varchar, process varchar, step_number integer, step_code varchar, is_filing boolean,
    agent_key bigint, agent_id varchar, started_at timestamp, due_at timestamp, completed_at timestamp,
    status varchar, due_date_key integer, completed_date_key integer, is_done boolean,
    hours_to_complete double, sla_met boolean, days_late integer,
    _src_id bigint, _batch_id varchar, _updated_at timestamp, _hash varchar
);

-- payments name the contract an invoice was raised under (the services agency's recurring invoices)
alter table core.fct_payment add column if not exists contract_id varchar;
