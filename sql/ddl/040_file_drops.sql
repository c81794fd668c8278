-- grain: audit and reference tables of file drops and currencies (extends 010_ingest.sql; every
-- statement idempotent)

-- a batch's file: its delivery (path in the landing folder without a version stamp), the profile it
-- was read with (JSON), the date order decided for it, and the blank lines skipped
alter table audit.load_batches add column if not exists delivery varchar;
alter table audit.load_batches add column if not exists profile_spec varchar;
alter table audit.load_batches add column if not exists date_order varchar;       -- dmy | mdy | none
alter table audit.load_batches add column if not exists rows_blank bigint default 0;
alter table audit.file_registry add column if not exists delivery varchar;

-- grain: one row per path in the landing folder a run did not read (dot-files, unsupported types,
-- links leading outside, copies in progress), with the reason and when it was last seen
create table if not exists audit.skipped_files (
    path varchar primary key,         -- relative to the landing folder
    reason varchar not null,
    first_seen timestamp not null,
    last_seen timestamp not null,
    last_run_id varchar,
    times_seen integer not null default 1
);

-- grain: one row per file-drop line staged per batch, quarantined ones included: the lines a delivery's
-- version delivered (a re-delivery replaces exactly these, warehouse/ingest/file_deliveries.py)
create table if not exists staging.stg_files__line_keys (
    _batch_id varchar not null,
    _source_row bigint not null,
    sales_line_id varchar
);

-- grain: one row per currency per period: the rate into the reporting currency valid from valid_from
-- (inclusive) to valid_to (exclusive), read from the declared rates file or source table
create table if not exists core.fx_rates (
    currency varchar not null,
    valid_from timestamp not null,    -- '-infinity' when the rate has no start
    valid_to timestamp not null,      -- 'infinity' for the latest rate
    rate decimal(18, 8) not null,     -- units of the reporting currency per unit of currency
    reporting_currency varchar not null,
    source varchar not null,          -- the rates file or table it came from
    loaded_at timestamp not null
);

-- sales lines keep their own currency: local amount and the rate used; net_amount is in the reporting
-- currency. exact_quantity: a fractional quantity as delivered (profiles with decimal_quantities)
alter table core.fct_sales_line add column if not exists local_net_amount decimal(18, 2);
alter table core.fct_sales_line add column if not exists fx_rate decimal(18, 8);
alter table core.fct_sales_line add column if not exists exact_quantity decimal(18, 4);

-- grain: one row per staging table per version of its staging SQL whose columns the stored table has
-- (warehouse/ingest/staging.py adds the columns a newer SQL produces once per version)
create table if not exists staging._crmwh_sql_versions (
    table_name varchar not null,
    sql_md5 varchar not null
);
