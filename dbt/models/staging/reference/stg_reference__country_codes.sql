with

source as (

    select * from {{ source('reference', 'ref_comtrade_country_codes') }}

),

final as (

    select
        cast(comtrade_code as integer) as comtrade_code,
        nullif(trim(iso3), '') as iso3,
        nullif(trim(iso2), '') as iso2,
        country_name,
        area_type,
        cast(is_reporter as boolean) as is_reporter,
        cast(is_partner as boolean) as is_partner
    from source

)

select * from final
