with

codes as (

    select * from {{ ref('stg_reference__country_codes') }}

),

final as (

    select
        comtrade_code,
        iso3,
        iso2,
        country_name,
        area_type,
        area_type = 'country' as is_country
    from codes

)

select * from final
