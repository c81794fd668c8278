-- grain: audit.validation_results: one row per batch per guarded table per rule per validation run
create table if not exists audit.validation_results (
    batch_id varchar not null,
    table_name varchar not null,          -- guarded table, e.g. stg_crm__order_lines
    rule varchar not null,                -- rule id from the suite (expectation meta.rule)
    expectation_type varchar not null,    -- Great Expectations expectation type
    severity varchar not null,            -- error | warning | critical
    success boolean not null,
    unexpected_count bigint not null default 0,
    rows_checked bigint not null default 0,
    details varchar,                      -- JSON: observed values, bounds, sample keys
    checked_at timestamp not null default current_timestamp
);
