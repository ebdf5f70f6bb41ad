-- Reconciled trade in three layers (OECD BaTIS/BIMTS style) for every mirror flow: the two
-- reported values; reported + estimates (the importer's FOB value, or the exporter's where the
-- importer did not report); and the balanced value, the reliability-weighted mean of both
-- sides, each side weighed with its own role's reliability (the exporter's as an exporter, the
-- importer's as an importer: inverse discrepancy variance per year, fct_reporter_reliability).
-- Each side is taken as the explanation that applied re-states it: transit attributes the
-- exporter's declaration to the true importer, re-exports move the hub's re-exports to the
-- goods' origin, unallocated trade adds back what the side booked to no country. A row whose
-- partner is not a country keeps the part of it that no flow claimed (`unallocated_remainder`),
-- so that no declared value is lost. Confidential declarations stay out (fct_declarations).
-- `reconciliation_method` says how each row's balanced value was formed.
-- The scores are an estimate (fct_reporter_reliability, kept per vintage): a flow of a year
-- that the vintage has not scored (delivered since it was computed) takes the reporter's
-- nearest earlier scored year in that role, else its nearest later one; the year used is on
-- the row (`exporter_reliability_year`, `importer_reliability_year`) with the vintage.
-- Built by trailing periods (macro trailing_model_config), as fct_mirror_trade: a row reads
-- its own flow and the scores, which a build does not change.
{{ config(**trailing_model_config()) }}

with

mirror as (

    select * from {{ ref('fct_mirror_trade') }}
    where status <> 'confidential' and {{ in_trailing_periods() }}

),

reliability as (

    select
        reporter_iso3,
        reporter_role,
        period_year,
        inverse_variance_weight,
        reliability_score
    from {{ ref('fct_reporter_reliability') }}

),

sides as (

    select
        mirror.*,
        -- what the exporter's declaration says this importer received
        case
            when mirror.status = 'unallocated' then null
            else
                coalesce(mirror.attributed_export_value_usd, mirror.export_value_usd)
                + case
                    when mirror.status = 're_export'
                        then
                            coalesce(mirror.re_export_attributed_usd, 0)
                            - coalesce(mirror.re_export_declared_usd, 0)
                    else 0
                end
                + case
                    when
                        mirror.status = 'explained_unallocated'
                        and coalesce(mirror.import_value_fob_usd, 0)
                        > coalesce(mirror.export_value_usd, 0)
                        then coalesce(mirror.unallocated_allocated_usd, 0)
                    else 0
                end
        end as exporter_value_for_importer_usd,
        -- what the importer's declaration says it received from this exporter (FOB)
        case
            when mirror.status = 'unallocated' then null
            when
                mirror.status = 'explained_unallocated'
                and coalesce(mirror.export_value_usd, 0)
                > coalesce(mirror.import_value_fob_usd, 0)
                then coalesce(mirror.import_value_fob_usd, 0) + mirror.unallocated_allocated_usd
            else mirror.import_value_fob_usd
        end as importer_value_fob_usd,
        -- a non-country partner's row: what no country flow claimed, at FOB
        case
            when mirror.status = 'unallocated'
                then
                    coalesce(mirror.import_value_fob_usd, mirror.export_value_usd)
                    * (1 - coalesce(mirror.unallocated_allocated_share, 0))
        end as unallocated_remainder_usd
    from mirror

),

-- every reporter × role × year of the flows
reporter_years as (

    select distinct
        exporter_iso3 as reporter_iso3,
        'exporter' as reporter_role,
        cast(left(period, 4) as integer) as period_year
    from mirror

    union

    select distinct
        importer_iso3 as reporter_iso3,
        'importer' as reporter_role,
        cast(left(period, 4) as integer) as period_year
    from mirror

),

-- the scored year each reporter × role × year uses: its own, else the nearest earlier one,
-- else the nearest later one
scores_used as (

    select
        reporter_years.reporter_iso3,
        reporter_years.reporter_role,
        reporter_years.period_year,
        reliability.period_year as reliability_year,
        reliability.inverse_variance_weight,
        reliability.reliability_score
    from reporter_years
    inner join reliability
        on
            reporter_years.reporter_iso3 = reliability.reporter_iso3
            and reporter_years.reporter_role = reliability.reporter_role
    qualify row_number() over (
        partition by
            reporter_years.reporter_iso3, reporter_years.reporter_role, reporter_years.period_year
        order by
            reliability.period_year > reporter_years.period_year,
            abs(reliability.period_year - reporter_years.period_year)
    ) = 1

),

weighted as (

    select
        sides.*,
        exporter.inverse_variance_weight as exporter_weight,
        importer.inverse_variance_weight as importer_weight,
        exporter.reliability_score as exporter_reliability_score,
        importer.reliability_score as importer_reliability_score,
        exporter.reliability_year as exporter_reliability_year,
        importer.reliability_year as importer_reliability_year
    from sides
    left join scores_used as exporter
        on
            sides.exporter_iso3 = exporter.reporter_iso3
            and exporter.reporter_role = 'exporter'
            and cast(left(sides.period, 4) as integer) = exporter.period_year
    left join scores_used as importer
        on
            sides.importer_iso3 = importer.reporter_iso3
            and importer.reporter_role = 'importer'
            and cast(left(sides.period, 4) as integer) = importer.period_year

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
        {% call round_exact(digits=2) %}coalesce(
                importer_value_fob_usd, exporter_value_for_importer_usd, unallocated_remainder_usd
            ){% endcall %} as reported_plus_estimates_value_usd,
        case
            when importer_value_fob_usd is not null then 'importer_reported'
            when exporter_value_for_importer_usd is not null then 'estimated_from_exporter'
            when unallocated_remainder_usd is not null then 'unallocated_remainder'
        end as reported_plus_estimates_basis,
        -- layer 3: balanced
        {{ round_exact('exporter_value_for_importer_usd', 2) }} as exporter_value_for_importer_usd,
        {{ round_exact('importer_value_fob_usd', 2) }} as importer_value_fob_usd,
        exporter_weight,
        importer_weight,
        exporter_reliability_score,
        importer_reliability_score,
        exporter_reliability_year,
        importer_reliability_year,
        {% call round_exact(digits=2) %}case
            when unallocated_remainder_usd is not null then unallocated_remainder_usd
            when importer_value_fob_usd is null then exporter_value_for_importer_usd
            when exporter_value_for_importer_usd is null then importer_value_fob_usd
            when exporter_weight is null or importer_weight is null
                then (importer_value_fob_usd + exporter_value_for_importer_usd) / 2
            else
                (
                    exporter_weight * exporter_value_for_importer_usd
                    + importer_weight * importer_value_fob_usd
                )
                / (exporter_weight + importer_weight)
        end{% endcall %} as balanced_value_usd,
        case
            when unallocated_remainder_usd is not null then 'unallocated_remainder'
            when importer_value_fob_usd is null then 'exporter_only'
            when exporter_value_for_importer_usd is null then 'importer_only'
            when exporter_weight is null or importer_weight is null then 'simple_mean'
            else 'inverse_variance_weighted'
        end
        || case when corridor_id is not null then '+transit_attributed' else '' end
        || case when status = 're_export' then '+re_export_attributed' else '' end
        || case when status = 'explained_unallocated' then '+unallocated_allocated' else '' end
        || '+cif_fob_' || cif_fob_method as reconciliation_method,
        corridor_id,
        cif_fob_margin,
        estimate_vintage
    from weighted

)

select * from final
