-- audit.load_batches.notes: what a batch met that is not an error (e.g. source columns the contract
-- does not know: kept in raw as text, reported by `crmwh status`)
alter table audit.load_batches add column if not exists notes varchar;
