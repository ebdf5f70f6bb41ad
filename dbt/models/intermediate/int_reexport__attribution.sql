-- Re-exports, as the declarations show them. A hub P that imports goods of origin o and
-- ships them on to j declares the re-export (Comtrade flow RX) to j, and counts it in its
-- total exports X(P→j); j records the import by country of origin, as an import from o. So:
--   * the P→j flow: X(P→j) exceeds M(j←P) by the re-exports; X − RX is what j declares from P;
--   * the o→j flow: M(j←o) exceeds X(o→j) by the goods that came through P; P's re-exports
--     to j are attributed to origins in proportion to P's declared imports of the product
--     from each origin (other than j itself) in the same period.
-- One row per mirror key (freq × period × exporter × importer × HS6) that re-exports touch:
-- `re_export_declared_usd` on hub → destination keys, `re_export_attributed_usd` on origin →
-- destination keys (with the hubs it came through). fct_mirror_trade decides whether they
-- close the gap (status `re_export`).
with

declarations as (

    select * from {{ ref('int_trade__declarations_preferred') }}

),

flows as (

    select * from {{ ref('int_mirror__flows_fob') }}
    where is_country_pair and not is_confidential

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

origin_shares as (

    select
        re_exports.freq,
        re_exports.period,
        re_exports.hub_iso3,
        re_exports.destination_iso3,
        re_exports.hs6,
        hub_imports.origin_iso3,
        re_exports.re_export_value_usd
        * hub_imports.import_value_fob_usd
        / sum(hub_imports.import_value_fob_usd) over (
            partition by
                re_exports.freq,
                re_exports.period,
                re_exports.hub_iso3,
                re_exports.destination_iso3,
                re_exports.hs6
        ) as attributed_usd
    from re_exports
    inner join hub_imports
        on
            re_exports.freq = hub_imports.freq
            and re_exports.period = hub_imports.period
            and re_exports.hub_iso3 = hub_imports.hub_iso3
            and re_exports.hs6 = hub_imports.hs6
            -- goods coming back to their origin are re-imports, not this
            and re_exports.destination_iso3 <> hub_imports.origin_iso3

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
        cast(null as varchar) as re_export_hub_iso3
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
        sum(attributed_usd order by hub_iso3) as re_export_attributed_usd,
        string_agg(hub_iso3, ',' order by hub_iso3) as re_export_hub_iso3
    from origin_shares
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
