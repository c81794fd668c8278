-- grain: one row per products source row per batch (typed; product_code trimmed, case-folded if the profile says so;
-- names masked for personal data: warehouse/pii.py)
with source as (
    select * from raw.crm__products where _batch_id in (select batch_id from _stage_batches)
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(product_id as bigint) as product_id,
        {fold_code}(staging.clean_text(product_code)) as product_code,
        _crmwh_mask_pii(staging.clean_text(name)) as name,
        _crmwh_mask_pii(staging.clean_text(name_en)) as name_en,
        _crmwh_mask_pii(staging.clean_text(category)) as category,
        try_cast(unit_price as decimal(18, 2)) as unit_price,
        coalesce(try_cast(is_merchandise as boolean), true) as is_merchandise,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted,
        nullif(concat_ws(', ',
            case when staging.clean_text(name) is distinct from _crmwh_mask_pii(staging.clean_text(name)) then 'name' end,
            case when staging.clean_text(name_en) is distinct from _crmwh_mask_pii(staging.clean_text(name_en)) then 'name_en' end,
            case when staging.clean_text(category) is distinct from _crmwh_mask_pii(staging.clean_text(category)) then 'category' end),
            '') as _pii_masked
    from source
)

select * from final
