{{ config(**estimate_config()) }}

-- Every transit corridor the warehouse applies or considered, one row per corridor × importer
-- (the declared partner, i.e. the hub, included): corridors detected from the declarations
-- (int_transit__corridor_evidence) and the maintainers' seeds (transit_corridors), which
-- confirm or reject them.
-- A detected corridor is origin × hub × HS4. A period is evidence when, summed over the
-- HS4's codes, the members' deficits cover the hub's excess within var transit_coverage_band
-- (pattern) or their consigned imports cover at least var transit_min_consigned_share of it
-- (consignment). Detected: at least var transit_min_evidence_periods evidence periods and a
-- strength (evidence periods / periods with a hub excess) of at least var
-- transit_min_strength. A seed with decision `confirm` applies whether detected or not (the
-- detected members join its listed importers); `reject` switches a detection off.
with

evidence as (

    -- the estimates are computed together: one vintage, stamped on this one (not read)
    select
        origin_iso3,
        hub_iso3,
        hs4,
        hs6,
        freq,
        period,
        excess_usd,
        member_deficit_usd,
        consigned_value_fob_usd
    from {{ ref('int_transit__corridor_evidence') }}

),

route_members as (

    -- the estimates are computed together: one vintage, stamped on this one (not read)
    select
        origin_iso3,
        hub_iso3,
        hs4,
        importer_iso3,
        is_corroborated_by_hub_exports,
        member_evidence
    from {{ ref('int_transit__route_members') }}

),

seeds as (

    select * from {{ ref('transit_corridors') }}

),

seed_importers as (

    select * from {{ ref('transit_corridor_importers') }}

),

periods as (

    select
        origin_iso3,
        hub_iso3,
        hs4,
        freq,
        period,
        {{ sum_ordered('excess_usd', 'hs6') }} as excess_usd,
        {{ sum_ordered('member_deficit_usd', 'hs6') }} as member_deficit_usd,
        {{ sum_ordered('consigned_value_fob_usd', 'hs6') }} as consigned_value_fob_usd
    from evidence
    group by all

),

judged_periods as (

    select
        *,
        member_deficit_usd / excess_usd
        between 1 / (1 + {{ var('transit_coverage_band') }})
        and 1 + {{ var('transit_coverage_band') }} as is_pattern_evidence,
        consigned_value_fob_usd / excess_usd
        >= {{ var('transit_min_consigned_share') }} as is_consignment_evidence
    from periods

),

routes as (

    select
        origin_iso3,
        hub_iso3,
        hs4,
        count(*) as excess_periods,
        count(*) filter (where is_pattern_evidence) as pattern_periods,
        count(*) filter (where is_consignment_evidence) as consignment_periods,
        count(*) filter (where is_pattern_evidence or is_consignment_evidence)
            as evidence_periods,
        {{ sum_ordered('excess_usd', 'freq, period') }} as excess_usd,
        {%- set covered_usd -%}
            case
                when is_pattern_evidence or is_consignment_evidence
                    then least(excess_usd, greatest(member_deficit_usd, consigned_value_fob_usd))
                else 0
            end
        {%- endset %}
        {{ sum_ordered(covered_usd, 'freq, period') }} as covered_excess_usd
    from judged_periods
    group by all

),

detected as (

    select
        *,
        {{ round_exact('evidence_periods / excess_periods', 4) }} as strength,
        evidence_periods >= {{ var('transit_min_evidence_periods') }}
        and evidence_periods / excess_periods >= {{ var('transit_min_strength') }}
            as is_detected
    from routes

),

seed_matches as (

    select
        seeds.corridor_id,
        detected.origin_iso3,
        detected.hub_iso3,
        detected.hs4
    from seeds
    inner join detected
        on
            seeds.origin_iso3 = detected.origin_iso3
            and seeds.declared_partner_iso3 = detected.hub_iso3
            and (
                {{ starts_with('detected.hs4', 'seeds.hs_prefix') }}
                or {{ starts_with('seeds.hs_prefix', 'detected.hs4') }}
            )

),

detected_corridors as (

    select
        'det-' || lower(detected.origin_iso3) || '-' || lower(detected.hub_iso3) || '-'
        || detected.hs4 as corridor_id,
        detected.origin_iso3,
        detected.hub_iso3 as declared_partner_iso3,
        detected.hs4 as hs_prefix,
        cast(null as {{ dbt.type_string() }}) as seeded_route,
        cast(null as date) as valid_from,
        cast(null as date) as valid_to,
        case when detected.is_detected then 'detected' else 'below_threshold' end
            as corridor_source,
        detected.is_detected as is_applied,
        detected.excess_periods,
        detected.evidence_periods,
        detected.pattern_periods,
        detected.consignment_periods,
        detected.strength,
        detected.excess_usd,
        detected.covered_excess_usd
    from detected
    where not exists (
        select 1
        from seed_matches
        where
            seed_matches.origin_iso3 = detected.origin_iso3
            and seed_matches.hub_iso3 = detected.hub_iso3
            and seed_matches.hs4 = detected.hs4
    )

),

seeded_corridors as (

    select
        seeds.corridor_id,
        seeds.origin_iso3,
        seeds.declared_partner_iso3,
        seeds.hs_prefix,
        seeds.route as seeded_route,
        seeds.valid_from,
        seeds.valid_to,
        case
            when seeds.decision = 'reject' then 'rejected_by_seed'
            when bool_or(detected.is_detected) then 'seed_confirmed_by_data'
            else 'seed_only'
        end as corridor_source,
        seeds.decision = 'confirm' as is_applied,
        coalesce(sum(detected.excess_periods), 0) as excess_periods,
        coalesce(sum(detected.evidence_periods), 0) as evidence_periods,
        coalesce(sum(detected.pattern_periods), 0) as pattern_periods,
        coalesce(sum(detected.consignment_periods), 0) as consignment_periods,
        {% call round_exact(digits=4) %}
            coalesce(sum(detected.evidence_periods) / nullif(sum(detected.excess_periods), 0), 0)
        {% endcall %} as strength,
        coalesce(sum(detected.excess_usd), 0) as excess_usd,
        coalesce(sum(detected.covered_excess_usd), 0) as covered_excess_usd
    from seeds
    left join seed_matches on seeds.corridor_id = seed_matches.corridor_id
    left join detected
        on
            seed_matches.origin_iso3 = detected.origin_iso3
            and seed_matches.hub_iso3 = detected.hub_iso3
            and seed_matches.hs4 = detected.hs4
    group by
        seeds.corridor_id,
        seeds.origin_iso3,
        seeds.declared_partner_iso3,
        seeds.hs_prefix,
        seeds.route,
        seeds.valid_from,
        seeds.valid_to,
        seeds.decision

),

corridors as (

    select * from detected_corridors
    union all
    select * from seeded_corridors

),

members as (

    -- detected members (of the matching routes, for a seeded corridor)
    select
        corridors.corridor_id,
        route_members.importer_iso3,
        route_members.member_evidence
        || case when route_members.is_corroborated_by_hub_exports then '+hub_exports' else '' end
            as member_evidence
    from corridors
    left join seed_matches on corridors.corridor_id = seed_matches.corridor_id
    inner join route_members
        on
            corridors.origin_iso3 = route_members.origin_iso3
            and corridors.declared_partner_iso3 = route_members.hub_iso3
            and coalesce(seed_matches.hs4, corridors.hs_prefix) = route_members.hs4

    union all

    -- importers a seed lists
    select
        corridor_id,
        importer_iso3,
        'seed' as member_evidence
    from seed_importers

),

member_list as (

    select
        corridor_id,
        importer_iso3,
        {{ string_agg_sorted('member_evidence', "'+'") }} as member_evidence
    from members
    group by all

),

listed as (

    select
        corridors.*,
        corridors.declared_partner_iso3 as importer_iso3,
        true as is_declared_partner,
        'declared_partner' as member_evidence
    from corridors

    union all

    select
        corridors.*,
        member_list.importer_iso3,
        false as is_declared_partner,
        member_list.member_evidence
    from corridors
    inner join member_list on corridors.corridor_id = member_list.corridor_id
    where member_list.importer_iso3 <> corridors.declared_partner_iso3

),

final as (

    select
        -- every column of listed but seeded_route, which becomes the route
        corridor_id,
        origin_iso3,
        declared_partner_iso3,
        hs_prefix,
        valid_from,
        valid_to,
        corridor_source,
        is_applied,
        excess_periods,
        evidence_periods,
        pattern_periods,
        consignment_periods,
        strength,
        excess_usd,
        covered_excess_usd,
        importer_iso3,
        is_declared_partner,
        member_evidence,
        coalesce(
            seeded_route,
            origin_iso3 || ' -> ' || declared_partner_iso3 || ' -> '
            || {{ string_agg_sorted(
                'importer_iso3', "', '",
                filter='not is_declared_partner', over='(partition by corridor_id)'
            ) }}
            || ' (found in the declarations)'
        ) as route
    from listed

)

select
    *,  -- noqa: AM04
    {{ estimate_vintage() }} as estimate_vintage
from final
{{ keep_existing_estimate() }}
