-- grain: one row per interactions source row per batch (typed, codes trimmed and lower-cased; outcome and
-- notes masked for personal data: warehouse/foundation/pii.py)
with source as (
    select * from raw.crm__interactions where _batch_id in (select batch_id from _stage_batches)
),

-- free text cleaned once, then masked once (each macro call expands inline: nesting them is costly to plan)
cleaned as (select *, staging.clean_text(outcome) as outcome_t from source),

masked as (select *, _crmwh_mask_pii(outcome_t) as outcome_m, _crmwh_mask_pii(notes) as notes_m from cleaned),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(interaction_id as bigint) as interaction_id,
        try_cast(customer_id as bigint) as customer_id,
        try_cast(employee_id as bigint) as employee_id,
        lower(staging.clean_text(interaction_type)) as interaction_type,
        lower(staging.clean_text(channel)) as channel,
        staging.utc_timestamp(occurred_at) as occurred_at,
        outcome_m as outcome,
        notes_m as notes,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted,
        nullif(concat_ws(', ', case when outcome_t is distinct from outcome_m then 'outcome' end,
                               case when notes is distinct from notes_m then 'notes' end), '') as _pii_masked
    from masked
)

select * from final
