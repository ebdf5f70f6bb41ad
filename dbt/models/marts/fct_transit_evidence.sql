-- The period-by-period evidence behind the transit corridors (BI contract): for every origin ×
-- hub × HS6 × period with a hub excess on a candidate route, the members' deficits and
-- consigned imports against that excess, and whether the period counts as evidence.
with

evidence as (

    select * from {{ ref('int_transit__corridor_evidence') }}

),

final as (

    select
        freq,
        period,
        origin_iso3,
        hub_iso3,
        hs4,
        hs6,
        {{ round_exact('declared_export_value_usd', 2) }} as declared_export_value_usd,
        {{ round_exact('hub_import_value_fob_usd', 2) }} as hub_import_value_fob_usd,
        {{ round_exact('excess_usd', 2) }} as excess_usd,
        {{ round_exact('member_deficit_usd', 2) }} as member_deficit_usd,
        deficit_importers,
        {{ round_exact('consigned_value_fob_usd', 2) }} as consigned_value_fob_usd,
        consignee_importers,
        {{ round_exact('pattern_coverage', 6) }} as pattern_coverage,
        {{ round_exact('consignment_coverage', 6) }} as consignment_coverage,
        is_pattern_evidence,
        is_consignment_evidence,
        estimate_vintage
    from evidence

)

select * from final
