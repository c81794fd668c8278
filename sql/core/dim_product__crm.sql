-- model: core.dim_product
-- grain: one row per CRM product version staged in the batches loaded (input of the type-2 merge)
-- inputs: staging.stg_crm__products, _load_batches
-- write: scd2 spec=product
with products as (
    select * from staging.stg_crm__products
    where _batch_id in (select batch_id from _load_batches)
      and product_code is not null and updated_at is not null
),

final as (
    select
        product_code as product_id, 'crm' as source, coalesce(name_en, name) as name, category,
        unit_price::decimal(18, 2) as unit_price, is_merchandise, is_deleted, product_id as _src_id,
        coalesce(created_at, updated_at) as _created_at, updated_at as _updated_at, _batch_id
    from products
)

select * from final
