-- grain: audit.load_batches (extends 000_audit.sql): which process started each batch.
-- The writer (JSON: pid, host, boot id, process start, kind process|airflow, DAG run) is the session
-- variable crmwh_writer that warehouse.foundation.db.warehouse_writer sets on every writing connection, so every
-- batch insert records it without naming it. A running batch whose writer is gone is marked abandoned.
alter table audit.load_batches add column if not exists writer varchar default getvariable('crmwh_writer');
