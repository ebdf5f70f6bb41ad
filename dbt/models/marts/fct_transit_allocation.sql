-- Transit corridors, queryable per row: for every corridor, period and HS6, each importer's
-- share of what the origin declared to the declared partner, next to what the importer
-- itself declared, and the residual.
with

allocation as (

    select * from {{ ref('int_transit__allocation') }}

),

final as (

    select
        corridor_id,
        corridor_source,
        route,
        freq,
        period,
        period_start,
        hs6,
        origin_iso3,
        declared_partner_iso3,
        attributed_importer_iso3,
        is_declared_partner,
        {{ round_exact('declared_export_value_usd', 2) }} as declared_export_value_usd,
        {{ round_exact('direct_export_value_usd', 2) }} as direct_export_value_usd,
        share_source,
        {{ round_exact('allocation_share', 8) }} as allocation_share,
        {{ round_exact('attributed_export_value_usd', 2) }} as attributed_export_value_usd,
        {{ round_exact('importer_declared_fob_usd', 2) }} as importer_declared_fob_usd,
        {{ round_exact('importer_declared_fob_usd - attributed_export_value_usd', 2) }} as residual_gap_usd,
        {{ round_exact(
            share_of_larger('importer_declared_fob_usd', 'attributed_export_value_usd'), 4
        ) }} as residual_gap_pct
    from allocation

)

select * from final
