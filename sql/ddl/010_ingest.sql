-- grain: audit tables of extraction and loading (extends 000_audit.sql; every statement idempotent)
alter table audit.load_batches add column if not exists step varchar;            -- extracted | staged | validated | dims_loaded | loaded
alter table audit.load_batches add column if not exists lower_bound timestamp;   -- updated_at > lower_bound was extracted (NULL = full)
alter table audit.load_batches add column if not exists max_source_ts timestamp; -- largest updated_at / event time in the batch
alter table audit.load_batches add column if not exists file_name varchar;
alter table audit.load_batches add column if not exists file_sha256 varchar;
alter table audit.load_batches add column if not exists profile varchar;
alter table audit.load_batches add column if not exists staging_table varchar;

-- grain: one row per source table: the updated_at up to which it has been loaded
create table if not exists audit.watermarks (
    source varchar not null,
    entity varchar not null,
    watermark timestamp not null,
    batch_id varchar,
    advanced_at timestamp not null,
    primary key (source, entity)
);

-- grain: one row per distinct file content (sha256) ever registered from a file drop
create table if not exists audit.file_registry (
    sha256 varchar primary key,
    file_name varchar not null,
    file_path varchar not null,
    profile varchar,
    size_bytes bigint not null,
    batch_id varchar,
    status varchar not null,          -- loaded | rejected | running
    registered_at timestamp not null
);
