-- The mirror flows whose two declarations disagree beyond the HS chapter's tolerance, one
-- row per flow with the side that declared more: `exporter_excess` (X − M_fob > 0: the
-- exporter declared more, or only the exporter declared) or `importer_excess` (M_fob − X > 0).
-- A transit corridor leaves both: an exporter excess at the hub (the origin declared the goods
-- to the port country) and importer excesses at the true importers (they declare the origin).
-- `is_locally_explainable` marks an excess the pair's own declarations account for, which
-- the corridor search must not mistake for transit: the pair shows the opposite excess under
-- another HS6 of the same heading that period (a classification difference), or the side that
-- declared less booked at least that much of the product to non-country partners that period
-- (an importer's imports from "areas nes", CIF; an exporter's exports to them).
-- Built by period (macro period_model_config): every join and window is within one period.
-- Only the corridor estimates read it, on a refresh.
{{ config(**period_model_config()) }}

with

flows as (

    select * from {{ ref('int_mirror__flows_fob') }}
    where
        is_country_pair and not is_confidential and left(hs6, 2) <> '99'
        and {{ in_build_periods() }}

),

sides as (

    select
        flows.freq,
        flows.period,
        flows.exporter_iso3,
        flows.importer_iso3,
        flows.hs6,
        coalesce(flows.export_value_usd, 0) as export_value_usd,
        coalesce(flows.import_value_fob_usd, 0) as import_value_fob_usd,
        {{ chapter_tolerance_pct('flows.hs_chapter') }} as tolerance_pct
    from flows

),

nes_pools as (

    select
        freq,
        period,
        reporter_iso3,
        flow_code,
        hs6,
        sum(value_usd) as nes_value_usd
    from {{ ref('int_trade__declarations_preferred') }}
    where
        flow_code in ('X', 'M') and partner_area_type <> 'country'
        and {{ in_build_periods() }}
    group by all

),

imbalanced as (

    select
        freq,
        period,
        exporter_iso3,
        importer_iso3,
        hs6,
        export_value_usd,
        import_value_fob_usd,
        case
            when export_value_usd > import_value_fob_usd then 'exporter_excess'
            else 'importer_excess'
        end as excess_side,
        abs(export_value_usd - import_value_fob_usd) as excess_usd,
        tolerance_pct
    from sides
    where
        abs(export_value_usd - import_value_fob_usd)
        > tolerance_pct / 100 * greatest(export_value_usd, import_value_fob_usd)

),

final as (

    select
        imbalanced.freq,
        imbalanced.period,
        imbalanced.exporter_iso3,
        imbalanced.importer_iso3,
        imbalanced.hs6,
        imbalanced.export_value_usd,
        imbalanced.import_value_fob_usd,
        imbalanced.excess_side,
        imbalanced.excess_usd,
        coalesce(
            nes_pools.nes_value_usd
            >= (1 - imbalanced.tolerance_pct / 100) * imbalanced.excess_usd,
            false
        )
        -- both sides of excess in the pair's heading that period: one row's opposite is
        -- under another code
        or min(imbalanced.excess_side) over pair_heading
        <> max(imbalanced.excess_side) over pair_heading as is_locally_explainable
    from imbalanced
    left join nes_pools
        on
            imbalanced.freq = nes_pools.freq
            and imbalanced.period = nes_pools.period
            and imbalanced.hs6 = nes_pools.hs6
            -- the side that declared less: the importer for an exporter excess
            and nes_pools.reporter_iso3 = case imbalanced.excess_side
                when 'exporter_excess' then imbalanced.importer_iso3
                else imbalanced.exporter_iso3
            end
            and nes_pools.flow_code = case imbalanced.excess_side
                when 'exporter_excess' then 'M'
                else 'X'
            end
    window
        pair_heading as (
            partition by
                imbalanced.freq,
                imbalanced.period,
                imbalanced.exporter_iso3,
                imbalanced.importer_iso3,
                left(imbalanced.hs6, 4)
        )

)

select * from final
