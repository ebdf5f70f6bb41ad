-- Re-exports, as the declarations show them. A hub P that imports goods of origin o and
-- ships them on to j declares the re-export (Comtrade flow RX) to j, and counts it in its
-- total exports X(P→j); j records the import by country of origin, as an import from o. So:
--   * the P→j flow: X(P→j) exceeds M(j←P) by the re-exports; X − RX is what j declares from P;
--   * the o→j flow: M(j←o) exceeds X(o→j) by the goods that came through P.
-- P's re-exports to j are attributed to origins in two steps (IMTS 2010 §6.6; the destination
-- names the origin, the hub's imports bound what it can have passed on):
--   1. evidence at the destination: each origin o that P imports the product from (other than
--      j itself) can take up to min(j's excess imports from o, P's imports from o) — its
--      capacity. RX fills the capacities in order of the evidence's strength, the excess as a
--      share of j's imports from o (an import from an origin that declares nothing to j
--      first: 100 %), never above a capacity. An excess within the chapter's tolerance is the
--      pair's noise, not evidence; a partial excess (an unreliable pair) would otherwise take
--      a share from the origin the destination names outright;
--   2. what capacity does not cover is attributed in proportion to P's declared imports of the
--      product by origin in the same period (the plain rule, where the destination shows no
--      excess).
-- One row per mirror key (freq × period × exporter × importer × HS6) that re-exports touch:
-- `re_export_declared_usd` on hub → destination keys, `re_export_attributed_usd` on origin →
-- destination keys (with the hubs it came through). fct_mirror_trade decides whether they
-- close the gap (status `re_export`).
-- Built by period (macro period_model_config): every join and window is within one period.
{{ config(**period_model_config()) }}

with

declarations as (

    select * from {{ ref('int_trade__declarations_preferred') }}
    where {{ in_build_periods() }}

),

flows as (

    select * from {{ ref('int_mirror__flows_fob') }}
    where is_country_pair and not is_confidential and {{ in_build_periods() }}

),

re_exports as (

    select
        freq,
        period,
        reporter_iso3 as hub_iso3,
        partner_iso3 as destination_iso3,
        hs6,
        value_usd as re_export_value_usd
    from declarations
    where
        flow_code = 'RX'
        and partner_area_type = 'country'
        and not is_confidential
        and value_usd > 0

),

hub_imports as (

    select
        flows.freq,
        flows.period,
        flows.importer_iso3 as hub_iso3,
        flows.exporter_iso3 as origin_iso3,
        flows.hs6,
        flows.import_value_fob_usd
    from flows
    where flows.import_value_fob_usd > 0

),

destination_pairs as (

    select
        flows.freq,
        flows.period,
        flows.exporter_iso3 as origin_iso3,
        flows.importer_iso3 as destination_iso3,
        flows.hs6,
        coalesce(flows.import_value_fob_usd, 0) as imported_usd,
        coalesce(flows.export_value_usd, 0) as exported_usd,
        {{ chapter_tolerance_pct('flows.hs_chapter') }} as tolerance_pct
    from flows

),

destination_excess as (

    -- what j declares from o beyond what o declares to j, where that is more than the
    -- chapter's tolerance: the goods o sold through hubs
    select
        freq,
        period,
        origin_iso3,
        destination_iso3,
        hs6,
        case
            when {{ share_of_larger('imported_usd', 'exported_usd') }} > tolerance_pct
                then imported_usd - exported_usd
            else 0
        end as excess_import_usd,
        (imported_usd - exported_usd) / nullif(imported_usd, 0) as excess_share
    from destination_pairs

),

candidates as (

    select
        re_exports.freq,
        re_exports.period,
        re_exports.hub_iso3,
        re_exports.destination_iso3,
        re_exports.hs6,
        hub_imports.origin_iso3,
        re_exports.re_export_value_usd,
        hub_imports.import_value_fob_usd as hub_import_usd,
        least(
            coalesce(destination_excess.excess_import_usd, 0), hub_imports.import_value_fob_usd
        ) as capacity_usd,
        coalesce(destination_excess.excess_share, 0) as excess_share
    from re_exports
    inner join hub_imports
        on
            re_exports.freq = hub_imports.freq
            and re_exports.period = hub_imports.period
            and re_exports.hub_iso3 = hub_imports.hub_iso3
            and re_exports.hs6 = hub_imports.hs6
            -- goods coming back to their origin are re-imports, not this
            and re_exports.destination_iso3 <> hub_imports.origin_iso3
    left join destination_excess
        on
            re_exports.freq = destination_excess.freq
            and re_exports.period = destination_excess.period
            and hub_imports.origin_iso3 = destination_excess.origin_iso3
            and re_exports.destination_iso3 = destination_excess.destination_iso3
            and re_exports.hs6 = destination_excess.hs6

),

{#- a hub's re-exports of a product to a destination in a period (Spark cannot extend a named
    window in OVER: the partition is written out there) -#}
{%- set re_export_partition = 'freq, period, hub_iso3, destination_iso3, hs6' %}

totals as (

    select
        *,
        sum(capacity_usd) over re_export_window as total_capacity_usd,
        sum(hub_import_usd) over re_export_window as total_hub_import_usd,
        -- the capacity of the origins with stronger evidence, filled before this one
        coalesce(
            sum(capacity_usd) over (
                partition by {{ re_export_partition }}
                order by excess_share desc, origin_iso3 asc
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as capacity_before_usd
    from candidates
    window re_export_window as (
        partition by {{ re_export_partition }}
    )

),

origin_shares as (

    select
        freq,
        period,
        hub_iso3,
        destination_iso3,
        hs6,
        origin_iso3,
        least(capacity_usd, greatest(re_export_value_usd - capacity_before_usd, 0))
        + greatest(re_export_value_usd - total_capacity_usd, 0)
        * hub_import_usd / total_hub_import_usd as attributed_usd
    from totals

),

declared as (

    select
        freq,
        period,
        hub_iso3 as exporter_iso3,
        destination_iso3 as importer_iso3,
        hs6,
        re_export_value_usd as re_export_declared_usd,
        cast(null as double) as re_export_attributed_usd,
        cast(null as {{ dbt.type_string() }}) as re_export_hub_iso3
    from re_exports

),

attributed as (

    select
        freq,
        period,
        origin_iso3 as exporter_iso3,
        destination_iso3 as importer_iso3,
        hs6,
        cast(null as double) as re_export_declared_usd,
        {{ sum_ordered('attributed_usd', 'hub_iso3') }} as re_export_attributed_usd,
        {{ string_agg_sorted('hub_iso3', "','") }} as re_export_hub_iso3
    from origin_shares
    where attributed_usd > 0  -- an origin left out by step 1 and 2 is not touched
    group by all

),

unioned as (

    select * from declared
    union all
    select * from attributed

),

final as (

    select
        freq,
        period,
        exporter_iso3,
        importer_iso3,
        hs6,
        sum(re_export_declared_usd) as re_export_declared_usd,
        sum(re_export_attributed_usd) as re_export_attributed_usd,
        max(re_export_hub_iso3) as re_export_hub_iso3
    from unioned
    group by all

)

select * from final
