-- Reconciled trade in three layers (OECD BaTIS/BIMTS style) for every mirror flow between
-- countries: the two reported values; reported + estimates (the importer's FOB value, or the
-- exporter's where the importer did not report); and the balanced value, the
-- reliability-weighted mean of both sides (inverse discrepancy variance of each reporter, per
-- year). Transit flows are balanced against the exporter's value attributed to the true
-- importer. `reconciliation_method` says how each row's balanced value was formed.
with

mirror as (

    select * from {{ ref('fct_mirror_trade') }}
    where status not in ('unallocated', 'confidential')

),

reliability as (

    select
        reporter_iso3,
        period_year,
        inverse_variance_weight,
        reliability_score
    from {{ ref('fct_reporter_reliability') }}

),

weighted as (

    select
        mirror.*,
        coalesce(mirror.attributed_export_value_usd, mirror.export_value_usd)
            as exporter_value_for_importer_usd,
        exporter.inverse_variance_weight as exporter_weight,
        importer.inverse_variance_weight as importer_weight,
        exporter.reliability_score as exporter_reliability_score,
        importer.reliability_score as importer_reliability_score
    from mirror
    left join reliability as exporter
        on
            mirror.exporter_iso3 = exporter.reporter_iso3
            and cast(left(mirror.period, 4) as integer) = exporter.period_year
    left join reliability as importer
        on
            mirror.importer_iso3 = importer.reporter_iso3
            and cast(left(mirror.period, 4) as integer) = importer.period_year

),

final as (

    select
        freq,
        period,
        period_start,
        exporter_iso3,
        importer_iso3,
        hs6,
        status,
        -- layer 1: reported
        export_value_usd as reported_export_value_usd,
        import_value_usd as reported_import_value_cif_usd,
        import_value_fob_usd as reported_import_value_fob_usd,
        -- layer 2: reported + estimates
        coalesce(import_value_fob_usd, exporter_value_for_importer_usd)
            as reported_plus_estimates_value_usd,
        case
            when import_value_fob_usd is not null then 'importer_reported'
            when exporter_value_for_importer_usd is not null then 'estimated_from_exporter'
        end as reported_plus_estimates_basis,
        -- layer 3: balanced
        exporter_value_for_importer_usd,
        exporter_weight,
        importer_weight,
        exporter_reliability_score,
        importer_reliability_score,
        round(case
            when import_value_fob_usd is null then exporter_value_for_importer_usd
            when exporter_value_for_importer_usd is null then import_value_fob_usd
            when exporter_weight is null or importer_weight is null
                then (import_value_fob_usd + exporter_value_for_importer_usd) / 2
            else
                (
                    exporter_weight * exporter_value_for_importer_usd
                    + importer_weight * import_value_fob_usd
                )
                / (exporter_weight + importer_weight)
        end, 2) as balanced_value_usd,
        case
            when import_value_fob_usd is null then 'exporter_only'
            when exporter_value_for_importer_usd is null then 'importer_only'
            when exporter_weight is null or importer_weight is null then 'simple_mean'
            else 'inverse_variance_weighted'
        end
        || case when corridor_id is not null then '+transit_attributed' else '' end
        || '+cif_fob_' || cif_fob_method as reconciliation_method,
        corridor_id,
        cif_fob_margin
    from weighted

)

select * from final
