{{ config(**estimate_config()) }}

-- Who the goods an origin declares to a hub end up with, found in the declarations: the
-- importers of each candidate route origin → hub → importer, per HS4 (product group), with
-- the evidence that puts them there.
--   * consignment: the importer declares imports from the origin consigned from the hub
--     (Comtrade partner2Code, int_transit__consignments), in any period;
--   * pattern: the importer is reachable from the hub (contiguous, within var
--     transit_max_distance_km, or among the hub's var transit_nearest_countries nearest
--     trading countries; CEPII distances) and declares more imports from the origin than the
--     origin declared to it (beyond tolerance, or only the importer declared) in the same
--     period and HS6 as the hub's excess, in at least var transit_min_evidence_periods
--     periods and var transit_min_member_share of the periods the route shows an excess: a
--     one-off coincidence is not a route.
-- An importer joins one hub per origin and HS4: the one its deficits coincide with most often
-- (then the larger value), consignment evidence first. `is_corroborated_by_hub_exports`: the
-- hub itself declares exports or re-exports of the heading to the importer (quasi-transit that
-- the hub records as its own trade).
with

imbalances as (

    select * from {{ ref('int_transit__imbalances') }}
    where not is_locally_explainable

),

geodist as (

    select * from {{ ref('stg_reference__cepii_geodist') }}

),

consignments as (

    select * from {{ ref('int_transit__consignments') }}

),

hub_exports as (

    select distinct
        reporter_iso3 as hub_iso3,
        partner_iso3 as importer_iso3,
        left(hs6, 4) as hs4
    from {{ ref('int_trade__declarations_preferred') }}
    where flow_code in ('X', 'RX') and partner_area_type = 'country' and value_usd > 0

),

hub_excess as (

    select * from imbalances
    where excess_side = 'exporter_excess'

),

importer_excess as (

    select * from imbalances
    where excess_side = 'importer_excess'

),

trading_countries as (

    select distinct importer_iso3 as iso3 from imbalances

),

near as (

    select
        geodist.exporter_iso3 as hub_iso3,
        geodist.importer_iso3,
        geodist.distance_km,
        geodist.is_contiguous,
        row_number() over (
            partition by geodist.exporter_iso3 order by geodist.distance_km, geodist.importer_iso3
        ) as nearness_rank
    from geodist
    inner join trading_countries on geodist.importer_iso3 = trading_countries.iso3
    where geodist.exporter_iso3 <> geodist.importer_iso3

),

reachable as (

    select *
    from near
    where
        is_contiguous
        or distance_km <= {{ var('transit_max_distance_km') }}
        or nearness_rank <= {{ var('transit_nearest_countries') }}

),

route_periods as (

    -- how many periods each candidate route shows a hub excess in
    select
        exporter_iso3 as origin_iso3,
        importer_iso3 as hub_iso3,
        left(hs6, 4) as hs4,
        count(distinct freq || period) as excess_periods
    from hub_excess
    group by all

),

pattern_links as (

    select
        hub_excess.exporter_iso3 as origin_iso3,
        hub_excess.importer_iso3 as hub_iso3,
        left(hub_excess.hs6, 4) as hs4,
        importer_excess.importer_iso3,
        count(distinct hub_excess.freq || hub_excess.period) as linked_periods,
        {{ sum_ordered('importer_excess.excess_usd', 'hub_excess.freq, hub_excess.period, hub_excess.hs6') }}
            as linked_deficit_usd
    from hub_excess
    inner join reachable on hub_excess.importer_iso3 = reachable.hub_iso3
    inner join importer_excess
        on
            hub_excess.freq = importer_excess.freq
            and hub_excess.period = importer_excess.period
            and hub_excess.hs6 = importer_excess.hs6
            and hub_excess.exporter_iso3 = importer_excess.exporter_iso3
            and reachable.importer_iso3 = importer_excess.importer_iso3
    group by all

),

pattern_members as (

    -- a route's importer coincides with the hub's excess in at least
    -- var transit_min_evidence_periods periods and in at least var transit_min_member_share of
    -- the periods the route shows an excess: a country that happens to import from the origin
    -- in a couple of those periods is not at the end of the route
    select pattern_links.*
    from pattern_links
    inner join route_periods
        on
            pattern_links.origin_iso3 = route_periods.origin_iso3
            and pattern_links.hub_iso3 = route_periods.hub_iso3
            and pattern_links.hs4 = route_periods.hs4
    where
        pattern_links.linked_periods >= {{ var('transit_min_evidence_periods') }}
        and pattern_links.linked_periods
        >= {{ var('transit_min_member_share') }} * route_periods.excess_periods

),

consignment_links as (

    select
        origin_iso3,
        consignment_iso3 as hub_iso3,
        left(hs6, 4) as hs4,
        importer_iso3,
        count(distinct freq || period) as consigned_periods,
        {{ sum_ordered('consigned_value_fob_usd', 'freq, period, hs6') }} as consigned_value_fob_usd
    from consignments
    group by all

),

combined as (

    select
        coalesce(pattern_links.origin_iso3, consignment_links.origin_iso3) as origin_iso3,
        coalesce(pattern_links.hub_iso3, consignment_links.hub_iso3) as hub_iso3,
        coalesce(pattern_links.hs4, consignment_links.hs4) as hs4,
        coalesce(pattern_links.importer_iso3, consignment_links.importer_iso3) as importer_iso3,
        coalesce(pattern_links.linked_periods, 0) as pattern_periods,
        coalesce(pattern_links.linked_deficit_usd, 0) as pattern_deficit_usd,
        coalesce(consignment_links.consigned_periods, 0) as consigned_periods,
        coalesce(consignment_links.consigned_value_fob_usd, 0) as consigned_value_fob_usd
    from pattern_members as pattern_links
    full outer join consignment_links
        on
            pattern_links.origin_iso3 = consignment_links.origin_iso3
            and pattern_links.hub_iso3 = consignment_links.hub_iso3
            and pattern_links.hs4 = consignment_links.hs4
            and pattern_links.importer_iso3 = consignment_links.importer_iso3

),

final as (

    select
        combined.*,
        case
            when combined.consigned_periods > 0 and combined.pattern_periods > 0
                then 'consignment_and_pattern'
            when combined.consigned_periods > 0 then 'consignment'
            else 'pattern'
        end as member_evidence,
        hub_exports.hub_iso3 is not null as is_corroborated_by_hub_exports
    from combined
    left join hub_exports
        on
            combined.hub_iso3 = hub_exports.hub_iso3
            and combined.importer_iso3 = hub_exports.importer_iso3
            and combined.hs4 = hub_exports.hs4
    where combined.importer_iso3 <> combined.origin_iso3
    qualify row_number() over (
        partition by combined.origin_iso3, combined.hs4, combined.importer_iso3
        order by
            combined.consigned_periods desc,
            combined.pattern_periods desc,
            combined.pattern_deficit_usd desc,
            combined.hub_iso3 asc
    ) = 1

)

select
    *,
    {{ estimate_vintage() }} as estimate_vintage
from final
{{ keep_existing_estimate() }}
