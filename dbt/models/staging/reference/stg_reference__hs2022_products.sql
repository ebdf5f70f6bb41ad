-- HS 2022 nomenclature; `text` looks like "270900 - Oils; petroleum ...": keep the words.
with

source as (

    select * from {{ source('reference', 'ref_hs2022_products') }}

),

final as (

    select
        id as hs_code,
        regexp_replace(text, '^[0-9]+ - ', '') as description,
        nullif(parent, '#') as parent_code,
        cast(aggrlevel as integer) as aggr_level,
        cast({{ adapter.quote('isLeaf') }} as integer) = 1 as is_leaf,
        nullif({{ adapter.quote('standardUnitAbbr') }}, '') as standard_unit
    from source
    where id <> 'TOTAL'

)

select * from final
