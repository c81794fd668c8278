-- grain: one row per products source row per batch (typed; product_code trimmed, case-folded if the profile says so;
-- names masked for personal data: warehouse/foundation/pii.py)
with source as (
    select * from raw.crm__products where _batch_id in (select batch_id from _stage_batches)
),

-- free text cleaned once, then masked once (each macro call expands inline: nesting them is costly to plan)
cleaned as (
    select *, staging.clean_text(name) as name_t, staging.clean_text(name_en) as name_en_t,
           staging.clean_text(category) as category_t
    from source
),

masked as (
    select *, _crmwh_mask_pii(name_t) as name_m, _crmwh_mask_pii(name_en_t) as name_en_m,
           _crmwh_mask_pii(category_t) as category_m
    from cleaned
),

final as (
    select
        _batch_id, _source_row, _source, _extracted_at, {raw_record} as _raw,
        try_cast(product_id as bigint) as product_id,
        {fold_code}(staging.clean_text(product_code)) as product_code,
        name_m as name,
        name_en_m as name_en,
        category_m as category,
        try_cast(unit_price as decimal(18, 2)) as unit_price,
        coalesce(try_cast(is_merchandise as boolean), true) as is_merchandise,
        staging.utc_timestamp(created_at) as created_at,
        staging.utc_timestamp(updated_at) as updated_at,
        coalesce(try_cast(is_deleted as boolean), false) as is_deleted,
        nullif(concat_ws(', ', case when name_t is distinct from name_m then 'name' end,
                               case when name_en_t is distinct from name_en_m then 'name_en' end,
                               case when category_t is distinct from category_m then 'category' end), '') as _pii_masked
    from masked
)

select * from final
