-- grain: audit.load_batches: one row per batch (one source entity or one file, one run)
create table if not exists audit.load_batches (
    batch_id varchar primary key,
    run_id varchar,
    source varchar not null,          -- e.g. crm, file:online_retail
    entity varchar not null,          -- e.g. customers, sales_lines
    source_kind varchar not null,     -- database | file
    interval_start timestamp,
    interval_end timestamp,
    started_at timestamp not null,
    finished_at timestamp,
    rows_read bigint not null default 0,
    rows_loaded bigint not null default 0,
    rows_quarantined bigint not null default 0,
    status varchar not null,          -- running | succeeded | failed | rejected
    error varchar,
    warnings integer not null default 0
);
