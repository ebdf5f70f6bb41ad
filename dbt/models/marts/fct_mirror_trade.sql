-- The mirror table: one row per freq × period × exporter × importer × HS6, exporter's FOB
-- declaration against the importer's CIF declaration brought to FOB, the gap and a status.
with

paired as (

    select * from {{ ref('int_mirror__flows_paired') }}

),

tolerances as (

    select * from {{ ref('mirror_tolerances') }}

),

adjusted as (

    select
        paired.*,
        left(paired.hs6, 2) as hs_chapter,
        'fixed_factor' as cif_fob_method,
        cast({{ var('cif_fob_factor') }} as double) as cif_fob_factor,
        paired.import_value_usd / cast({{ var('cif_fob_factor') }} as double)
            as import_value_fob_usd,
        coalesce(tolerances.tolerance_pct, {{ var('default_tolerance_pct') }})
            as tolerance_pct
    from paired
    left join tolerances on left(paired.hs6, 2) = tolerances.hs_chapter

),

gaps as (

    select
        *,
        import_value_fob_usd - export_value_usd as gap_usd,
        100 * (import_value_fob_usd - export_value_usd)
        / nullif(greatest(import_value_fob_usd, export_value_usd), 0) as gap_pct
    from adjusted

),

final as (

    select
        freq,
        period,
        period_start,
        exporter_iso3,
        importer_iso3,
        hs6,
        hs_chapter,
        export_value_usd,
        import_value_usd,
        import_value_fob_usd,
        cif_fob_method,
        cif_fob_factor,
        export_net_weight_kg,
        import_net_weight_kg,
        gap_usd,
        gap_pct,
        tolerance_pct,
        case
            when not is_country_pair then 'unallocated'
            when export_value_usd is null then 'import_only'
            when import_value_usd is null then 'export_only'
            when coalesce(abs(gap_pct), 0) <= tolerance_pct then 'ok'
            else 'breach'
        end as status,
        case
            when not is_country_pair
                then 'partner is not a country (areas nes, group or similar): never a mirror counterpart'
            when export_value_usd is null then 'only the importer declared this flow'
            when import_value_usd is null then 'only the exporter declared this flow'
            else printf(
                'gap %.1f%% of the larger declaration vs tolerance %g%% (HS chapter %s, CIF/FOB %s %.2f)',
                coalesce(gap_pct, 0), tolerance_pct, hs_chapter, cif_fob_method, cif_fob_factor
            )
        end as status_reason,
        is_revised
    from gaps

)

select * from final
