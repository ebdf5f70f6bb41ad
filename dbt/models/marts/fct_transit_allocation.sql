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
        route,
        freq,
        period,
        period_start,
        hs6,
        origin_iso3,
        declared_partner_iso3,
        attributed_importer_iso3,
        is_declared_partner,
        declared_export_value_usd,
        direct_export_value_usd,
        share_source,
        allocation_share,
        attributed_export_value_usd,
        importer_declared_fob_usd,
        importer_declared_fob_usd - attributed_export_value_usd as residual_gap_usd,
        {{ share_of_larger('importer_declared_fob_usd', 'attributed_export_value_usd') }}
            as residual_gap_pct
    from allocation

)

select * from final
