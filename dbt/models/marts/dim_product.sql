-- HS 2022 six-digit products with their heading (HS4) and chapter (HS2).
with

products as (

    select * from {{ ref('stg_reference__hs2022_products') }}

),

final as (

    select
        hs6.hs_code as hs6,
        hs6.description,
        left(hs6.hs_code, 4) as hs4,
        heading.description as hs4_description,
        left(hs6.hs_code, 2) as hs_chapter,
        chapter.description as hs_chapter_description,
        hs6.standard_unit
    from products as hs6
    left join products as heading on left(hs6.hs_code, 4) = heading.hs_code
    left join products as chapter on left(hs6.hs_code, 2) = chapter.hs_code
    where hs6.aggr_level = 6

)

select * from final
