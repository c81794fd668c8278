-- The id of every upserted fact hashed to a number (hash(<id>), UBIGINT; lineage, not contract): the
-- fact upsert (warehouse/core/core_writes.py, KEY_HASH) finds the stored rows of the incoming ids by it,
-- reading that column alone instead of the text ids. Written by the upsert; a warehouse made before the
-- column existed gets it here, its rows filled in by the next upsert of the fact.
alter table core.fct_sales_line add column if not exists _key_hash ubigint;
alter table core.fct_service_ticket add column if not exists _key_hash ubigint;
alter table core.fct_interaction add column if not exists _key_hash ubigint;
alter table core.fct_payment add column if not exists _key_hash ubigint;
alter table core.fct_lead add column if not exists _key_hash ubigint;
alter table core.fct_opportunity add column if not exists _key_hash ubigint;
alter table core.fct_opportunity_stage add column if not exists _key_hash ubigint;
alter table core.fct_contract add column if not exists _key_hash ubigint;
alter table core.fct_service_step add column if not exists _key_hash ubigint;
