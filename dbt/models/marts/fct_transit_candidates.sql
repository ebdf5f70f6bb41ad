-- Transit corridors the data suggests, for review: the origin declares to a partner P much
-- more than P declares importing (an export-side gap beyond tolerance), while other importers
-- declare imports from the origin consigned from P (Comtrade country of consignment). The
-- share of the excess those consignments cover is the evidence. Seeded corridors are marked.
with

areas as (

    select
        comtrade_code,
        iso3
    from {{ ref('stg_reference__country_codes') }}

),

consigned as (

    select
        consignment.freq,
        consignment.period,
        origin.iso3 as origin_iso3,
        via.iso3 as consignment_iso3,
        consignment.hs6,
        string_agg(distinct importer.iso3, ',' order by importer.iso3) as consignee_importers,
        sum(consignment.primary_value_usd order by consignment.reporter_code)
            as consigned_import_value_usd
    from {{ ref('stg_comtrade__consignment') }} as consignment
    inner join areas as importer on consignment.reporter_code = importer.comtrade_code
    inner join areas as origin on consignment.partner_code = origin.comtrade_code
    inner join areas as via on consignment.partner2_code = via.comtrade_code
    where
        consignment.flow_code = 'M'
        and consignment.partner2_code <> consignment.partner_code
    group by all

),

excess as (

    select
        freq,
        period,
        exporter_iso3,
        importer_iso3,
        hs6,
        export_value_usd,
        import_value_fob_usd,
        export_value_usd - coalesce(import_value_fob_usd, 0) as declared_excess_usd,
        tolerance_pct
    from {{ ref('fct_mirror_trade') }}
    where
        export_value_usd > 0
        and coalesce(gap_pct, -100) < -tolerance_pct

),

corridors as (

    select
        origin_iso3,
        declared_partner_iso3,
        hs_prefix,
        corridor_id
    from {{ ref('transit_corridors') }}

),

final as (

    select
        excess.freq,
        excess.period,
        excess.exporter_iso3 as origin_iso3,
        excess.importer_iso3 as declared_partner_iso3,
        excess.hs6,
        consigned.consignee_importers,
        excess.export_value_usd as declared_export_value_usd,
        excess.import_value_fob_usd as partner_import_value_fob_usd,
        excess.declared_excess_usd,
        round(consigned.consigned_import_value_usd, 2) as consigned_import_value_usd,
        round(consigned.consigned_import_value_usd / excess.declared_excess_usd, 8)
            as excess_covered_share,
        corridors.corridor_id as seeded_corridor_id
    from excess
    inner join consigned
        on
            excess.freq = consigned.freq
            and excess.period = consigned.period
            and excess.exporter_iso3 = consigned.origin_iso3
            and excess.importer_iso3 = consigned.consignment_iso3
            and excess.hs6 = consigned.hs6
    left join corridors
        on
            excess.exporter_iso3 = corridors.origin_iso3
            and excess.importer_iso3 = corridors.declared_partner_iso3
            and starts_with(excess.hs6, corridors.hs_prefix)

)

select * from final
