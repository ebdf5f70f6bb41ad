-- The names the report prints next to codes: countries by ISO-3, products by HS6.
with

countries as (

    select
        'country' as code_kind,
        iso3 as code,
        -- an ISO-3 several Comtrade areas share (a country and its historic predecessor)
        -- takes the present-day country's name, else the lowest Comtrade code's
        {{ first_ordered('country_name', '(not is_country), comtrade_code') }} as code_name
    from {{ ref('dim_country') }}
    where iso3 is not null
    group by iso3

),

products as (

    select
        'product' as code_kind,
        hs6 as code,
        description as code_name
    from {{ ref('dim_product') }}

),

final as (

    select * from countries
    union all
    select * from products

)

select * from final
