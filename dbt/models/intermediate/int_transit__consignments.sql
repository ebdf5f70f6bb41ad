-- Imports declared with a country of consignment different from the country of origin
-- (Comtrade partner2Code breakdowns), on the warehouse's grain: ISO-3 codes, HS 2022 (older
-- editions through the same concordance as the totals, split codes weighted), and the CIF
-- value brought to FOB with the origin -> importer pair's margin, so that it can be set
-- against an exporter's FOB declaration. Austria's imports of Kazakh crude consigned from
-- Italy are the textbook row: oil that reached Austria through the Trieste pipeline.
with

areas as (

    select
        comtrade_code,
        iso3
    from {{ ref('stg_reference__country_codes') }}
    where area_type = 'country'

),

concordance as (

    select * from {{ ref('int_hs__concordance_to_hs2022') }}

),

margins as (

    -- one margin per pair, HS chapter and period: what the pair's mirror flows use
    select
        freq,
        period,
        exporter_iso3,
        importer_iso3,
        hs_chapter,
        avg(cif_fob_margin) as cif_fob_margin
    from {{ ref('int_mirror__flows_fob') }}
    group by all

),

consigned as (

    select
        consignment.freq,
        consignment.period,
        origin.iso3 as origin_iso3,
        via.iso3 as consignment_iso3,
        importer.iso3 as importer_iso3,
        coalesce(concordance.hs6_2022, consignment.hs6) as hs6,
        consignment.primary_value_usd * coalesce(concordance.weight, 1.0) as value_cif_usd
    from {{ ref('stg_comtrade__consignment') }} as consignment
    inner join areas as importer on consignment.reporter_code = importer.comtrade_code
    inner join areas as origin on consignment.partner_code = origin.comtrade_code
    inner join areas as via on consignment.partner2_code = via.comtrade_code
    left join concordance
        on
            {{ hs_year_of_classification('consignment.classification_code') }}
            = concordance.hs_year
            and consignment.hs6 = concordance.hs6_from
    where
        consignment.flow_code = 'M'
        and consignment.partner2_code <> consignment.partner_code
        and origin.iso3 <> via.iso3
        and importer.iso3 <> via.iso3

),

summed as (

    select
        freq,
        period,
        origin_iso3,
        consignment_iso3,
        importer_iso3,
        hs6,
        {{ sum_ordered('value_cif_usd', 'value_cif_usd') }} as consigned_value_cif_usd
    from consigned
    group by all

),

final as (

    select
        summed.*,
        coalesce(margins.cif_fob_margin, {{ round_exact(var('cif_fob_factor') ~ ' - 1', 6) }})
            as cif_fob_margin,
        summed.consigned_value_cif_usd
        / (1 + coalesce(margins.cif_fob_margin, {{ round_exact(var('cif_fob_factor') ~ ' - 1', 6) }}))
            as consigned_value_fob_usd
    from summed
    left join margins
        on
            summed.freq = margins.freq
            and summed.period = margins.period
            and summed.origin_iso3 = margins.exporter_iso3
            and summed.importer_iso3 = margins.importer_iso3
            and left(summed.hs6, 2) = margins.hs_chapter

)

select * from final
