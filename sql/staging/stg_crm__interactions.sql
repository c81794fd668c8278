-- grain: one row per interactions source row per batch (typed, codes trimmed and lower-cased; outcome and
-- notes masked for personal data: warehouse/pii.py)
with source as (
    select * from raw.crm__interactions where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(interaction_id as bigint) as interaction_id,
        try_cast(customer_id as bigint) as customer_id,
        try_cast(employee_id as bigint) as employee_id,
        lower(staging.clean_text(interaction_type)) as interaction_type,
        lower(staging.clean_text(channel)) as channel,
        staging.utc_timestamp(occurred_at) as occurred_at,
        _crmwh_mask_pii(staging.clean_text(outcome)) as outcome,
        _crmwh_mask_pii(notes) as notes,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted,
        nullif(concat_ws(', ',
            case when staging.clean_text(outcome) is distinct from _crmwh_mask_pii(staging.clean_text(outcome)) then 'outcome' end,
            case when notes is distinct from _crmwh_mask_pii(notes) then 'notes' end), '') as _pii_masked
    from source
)

select * from final
