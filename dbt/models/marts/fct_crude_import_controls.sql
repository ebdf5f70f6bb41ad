-- Control totals for crude oil (HS 270900): what customs say each importer bought from each
-- origin, next to what the energy registers say, in value (USD CIF) and in volume (customs
-- net weight converted to barrels at var barrels_per_tonne_crude).
with

customs as (

    select
        freq,
        period,
        period_start,
        reporter_iso3 as importer_iso3,
        partner_iso3 as origin_iso3,
        value_usd as customs_value_usd,
        net_weight_kg as customs_net_weight_kg,
        source as customs_source
    from {{ ref('int_trade__declarations_preferred') }}
    where
        flow_code = 'M'
        and hs6 = '270900'
        and partner_area_type = 'country'

),

registers as (

    select * from {{ ref('int_energy__crude_imports_by_origin') }}

),

final as (

    select
        coalesce(customs.freq, registers.freq) as freq,
        coalesce(customs.period, registers.period) as period,
        coalesce(customs.period_start, registers.period_start) as period_start,
        coalesce(customs.importer_iso3, registers.importer_iso3) as importer_iso3,
        coalesce(customs.origin_iso3, registers.origin_iso3) as origin_iso3,
        customs.customs_value_usd,
        customs.customs_net_weight_kg,
        customs.customs_net_weight_kg / 1000 * {{ var('barrels_per_tonne_crude') }} / 1000
            as customs_volume_thousand_bbl,
        customs.customs_source,
        registers.value_usd as register_value_usd,
        registers.volume_thousand_bbl as register_volume_thousand_bbl,
        registers.register,
        coalesce(registers.has_confidential_cells, false) as register_has_confidential_cells,
        {{ share_of_larger('customs.customs_value_usd', 'registers.value_usd') }}
            as value_gap_pct,
        {{ share_of_larger(
            'customs.customs_net_weight_kg / 1000 * ' ~ var('barrels_per_tonne_crude') ~ ' / 1000',
            'registers.volume_thousand_bbl'
        ) }} as volume_gap_pct
    from customs
    full outer join registers
        on
            customs.freq = registers.freq
            and customs.period = registers.period
            and customs.importer_iso3 = registers.importer_iso3
            and customs.origin_iso3 = registers.origin_iso3

)

select * from final
