-- grain: one row per service_tickets source row per batch (typed, codes trimmed and lower-cased; the subject
-- masked for personal data: warehouse/foundation/pii.py)
with source as (
    select * from raw.crm__service_tickets where _batch_id in (select batch_id from _stage_batches)
),

masked as (select *, _crmwh_mask_pii(subject) as subject_m from source),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(ticket_id as bigint) as ticket_id,
        staging.clean_text(ticket_number) as ticket_number,
        try_cast(customer_id as bigint) as customer_id,
        try_cast(order_id as bigint) as order_id,
        try_cast(agent_id as bigint) as agent_id,
        lower(staging.clean_text(ticket_type)) as ticket_type,
        lower(staging.clean_text(channel)) as channel,
        lower(staging.clean_text(priority)) as priority,
        subject_m as subject,
        staging.utc_timestamp(opened_at) as opened_at,
        staging.utc_timestamp(first_response_at) as first_response_at,
        staging.utc_timestamp(resolved_at) as resolved_at,
        lower(staging.clean_text(status)) as status,
        try_cast(satisfaction as smallint) as satisfaction,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted,
        case when subject is distinct from subject_m then 'subject' end as _pii_masked
    from masked
)

select * from final
