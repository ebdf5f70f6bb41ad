-- What the warehouse covers, in one row: flows, reporters, products, years.
with

flows as (

    select * from {{ ref('fct_mirror_trade') }}

),

final as (

    select
        count(*) as flows,
        -- a reporter counts once per side it declares (KAZ as exporter and as importer: 2)
        count(distinct exporter_iso3) filter (where export_value_usd is not null)
        + count(distinct importer_iso3) filter (where import_value_usd is not null)
            as reporter_sides,
        count(distinct hs6) as products,
        min(period) filter (where freq = 'A') as first_year,
        max(period) filter (where freq = 'A') as last_year
    from flows

)

select * from final
