{{ config(**estimate_config()) }}

-- Period by period, does what an origin declared to a hub beyond the hub's own imports (the
-- hub's excess, X(o→P) − M_fob(P←o)) reappear at the route's member importers
-- (int_transit__route_members)? One row per origin × hub × HS6 × freq × period in which the
-- hub shows an excess, for every origin × hub × HS4 that has members:
--   * pattern evidence: the members' deficits (M_fob(j←o) − X(o→j), where beyond tolerance)
--     cover the excess within var transit_coverage_band (ratio in [1/(1+band), 1+band]);
--   * consignment evidence: the members' imports from the origin consigned from the hub cover
--     at least var transit_min_consigned_share of it (not every importer reports breakdowns).
-- int_transit__corridors counts these periods into a corridor's strength.
with

imbalances as (

    select * from {{ ref('int_transit__imbalances') }}
    where not is_locally_explainable

),

members as (

    -- the estimates are computed together: one vintage, stamped on this one (not read)
    select
        origin_iso3,
        hub_iso3,
        hs4,
        importer_iso3
    from {{ ref('int_transit__route_members') }}

),

consignments as (

    select * from {{ ref('int_transit__consignments') }}

),

routes as (

    select distinct
        origin_iso3,
        hub_iso3,
        hs4
    from members

),

hub_excess as (

    select
        imbalances.freq,
        imbalances.period,
        imbalances.hs6,
        left(imbalances.hs6, 4) as hs4,
        imbalances.exporter_iso3 as origin_iso3,
        imbalances.importer_iso3 as hub_iso3,
        imbalances.export_value_usd as declared_export_value_usd,
        imbalances.import_value_fob_usd as hub_import_value_fob_usd,
        imbalances.excess_usd
    from imbalances
    inner join routes
        on
            imbalances.exporter_iso3 = routes.origin_iso3
            and imbalances.importer_iso3 = routes.hub_iso3
            and left(imbalances.hs6, 4) = routes.hs4
    where imbalances.excess_side = 'exporter_excess'

),

member_deficits as (

    select
        hub_excess.freq,
        hub_excess.period,
        hub_excess.hs6,
        hub_excess.origin_iso3,
        hub_excess.hub_iso3,
        {{ sum_ordered('imbalances.excess_usd', 'imbalances.importer_iso3') }} as member_deficit_usd,
        {{ string_agg_sorted('imbalances.importer_iso3', "','") }}
            as deficit_importers
    from hub_excess
    inner join members
        on
            hub_excess.origin_iso3 = members.origin_iso3
            and hub_excess.hub_iso3 = members.hub_iso3
            and hub_excess.hs4 = members.hs4
    inner join imbalances
        on
            hub_excess.freq = imbalances.freq
            and hub_excess.period = imbalances.period
            and hub_excess.hs6 = imbalances.hs6
            and hub_excess.origin_iso3 = imbalances.exporter_iso3
            and members.importer_iso3 = imbalances.importer_iso3
            and imbalances.excess_side = 'importer_excess'
    group by all

),

consigned as (

    select
        consignments.freq,
        consignments.period,
        consignments.hs6,
        consignments.origin_iso3,
        consignments.consignment_iso3 as hub_iso3,
        {{ sum_ordered('consignments.consigned_value_fob_usd', 'consignments.importer_iso3') }}
            as consigned_value_fob_usd,
        {{ string_agg_sorted('consignments.importer_iso3', "','") }}
            as consignee_importers
    from consignments
    inner join members
        on
            consignments.origin_iso3 = members.origin_iso3
            and consignments.consignment_iso3 = members.hub_iso3
            and left(consignments.hs6, 4) = members.hs4
            and consignments.importer_iso3 = members.importer_iso3
    group by all

),

final as (

    select
        hub_excess.freq,
        hub_excess.period,
        hub_excess.hs6,
        hub_excess.hs4,
        hub_excess.origin_iso3,
        hub_excess.hub_iso3,
        hub_excess.declared_export_value_usd,
        hub_excess.hub_import_value_fob_usd,
        hub_excess.excess_usd,
        coalesce(member_deficits.member_deficit_usd, 0) as member_deficit_usd,
        member_deficits.deficit_importers,
        coalesce(consigned.consigned_value_fob_usd, 0) as consigned_value_fob_usd,
        consigned.consignee_importers,
        coalesce(member_deficits.member_deficit_usd, 0) / hub_excess.excess_usd
            as pattern_coverage,
        coalesce(consigned.consigned_value_fob_usd, 0) / hub_excess.excess_usd
            as consignment_coverage,
        coalesce(member_deficits.member_deficit_usd, 0) / hub_excess.excess_usd
        between 1 / (1 + {{ var('transit_coverage_band') }})
        and 1 + {{ var('transit_coverage_band') }} as is_pattern_evidence,
        coalesce(consigned.consigned_value_fob_usd, 0) / hub_excess.excess_usd
        >= {{ var('transit_min_consigned_share') }} as is_consignment_evidence
    from hub_excess
    left join member_deficits
        on
            hub_excess.freq = member_deficits.freq
            and hub_excess.period = member_deficits.period
            and hub_excess.hs6 = member_deficits.hs6
            and hub_excess.origin_iso3 = member_deficits.origin_iso3
            and hub_excess.hub_iso3 = member_deficits.hub_iso3
    left join consigned
        on
            hub_excess.freq = consigned.freq
            and hub_excess.period = consigned.period
            and hub_excess.hs6 = consigned.hs6
            and hub_excess.origin_iso3 = consigned.origin_iso3
            and hub_excess.hub_iso3 = consigned.hub_iso3

)

select
    *,
    {{ estimate_vintage() }} as estimate_vintage
from final
{{ keep_existing_estimate() }}
