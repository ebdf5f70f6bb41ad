-- Transit corridors (BI contract), one row per corridor: found in the declarations, named or
-- overruled by a seed, with the evidence behind it and whether the warehouse applies it.
-- The per-period evidence is in fct_transit_evidence; the attribution per importer in
-- fct_transit_allocation.
with

corridors as (

    select * from {{ ref('int_transit__corridors') }}

),

final as (

    select
        corridor_id,
        corridor_source,
        is_applied,
        origin_iso3,
        declared_partner_iso3,
        hs_prefix,
        any_value(route) as route,
        {{ string_agg_sorted('importer_iso3', "','", filter='not is_declared_partner') }}
            as member_importers,
        {{ string_agg_sorted(
            "importer_iso3 || ':' || member_evidence", "','",
            order_by='importer_iso3', filter='not is_declared_partner'
        ) }} as member_evidence,
        any_value(valid_from) as valid_from,
        any_value(valid_to) as valid_to,
        any_value(excess_periods) as excess_periods,
        any_value(evidence_periods) as evidence_periods,
        any_value(pattern_periods) as pattern_periods,
        any_value(consignment_periods) as consignment_periods,
        any_value(strength) as strength,
        {{ round_exact('any_value(excess_usd)', 2) }} as excess_usd,
        {{ round_exact('any_value(covered_excess_usd)', 2) }} as covered_excess_usd,
        estimate_vintage
    from corridors
    group by
        corridor_id,
        corridor_source,
        is_applied,
        origin_iso3,
        declared_partner_iso3,
        hs_prefix,
        estimate_vintage

)

select * from final
