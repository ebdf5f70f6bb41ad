-- The mirror join: what the exporter declared (flow X, partner = importer) against what the
-- importer declared (flow M, partner = exporter), on freq × period × exporter × importer × HS6.
-- Comtrade codes become ISO-3 here (two Comtrade codes of one ISO-3 are summed); partner
-- "World" (code 0) is a total, never a counterpart, and is left out.
with

declarations as (

    select * from {{ ref('int_comtrade__totals_deduplicated') }}
    where partner_code <> 0

),

areas as (

    select
        comtrade_code,
        iso3,
        area_type
    from {{ ref('stg_reference__country_codes') }}

),

located as (

    select
        declarations.*,
        coalesce(reporter.iso3, '#' || declarations.reporter_code) as reporter_iso3,
        coalesce(partner.iso3, '#' || declarations.partner_code) as partner_iso3,
        coalesce(partner.area_type, 'unknown') as partner_area_type
    from declarations
    left join areas as reporter on declarations.reporter_code = reporter.comtrade_code
    left join areas as partner on declarations.partner_code = partner.comtrade_code

),

exports as (

    select
        freq,
        period,
        min(period_start) as period_start,
        reporter_iso3 as exporter_iso3,
        partner_iso3 as importer_iso3,
        hs6,
        min(partner_area_type) as importer_area_type,
        sum(primary_value_usd) as export_value_usd,
        sum(net_weight_kg) as export_net_weight_kg,
        max(delivery_count) as export_delivery_count
    from located
    where flow_code = 'X'
    group by freq, period, reporter_iso3, partner_iso3, hs6

),

imports as (

    select
        freq,
        period,
        min(period_start) as period_start,
        partner_iso3 as exporter_iso3,
        reporter_iso3 as importer_iso3,
        hs6,
        min(partner_area_type) as exporter_area_type,
        sum(primary_value_usd) as import_value_usd,
        sum(net_weight_kg) as import_net_weight_kg,
        max(delivery_count) as import_delivery_count
    from located
    where flow_code = 'M'
    group by freq, period, partner_iso3, reporter_iso3, hs6

),

final as (

    select
        coalesce(exports.freq, imports.freq) as freq,
        coalesce(exports.period, imports.period) as period,
        coalesce(exports.period_start, imports.period_start) as period_start,
        coalesce(exports.exporter_iso3, imports.exporter_iso3) as exporter_iso3,
        coalesce(exports.importer_iso3, imports.importer_iso3) as importer_iso3,
        coalesce(exports.hs6, imports.hs6) as hs6,
        exports.export_value_usd,
        imports.import_value_usd,
        exports.export_net_weight_kg,
        imports.import_net_weight_kg,
        -- the counterpart as each side named it: a country, or an "areas nes"-type partner
        coalesce(exports.importer_area_type, 'country') = 'country'
        and coalesce(imports.exporter_area_type, 'country') = 'country' as is_country_pair,
        coalesce(exports.export_delivery_count, 0) > 1
        or coalesce(imports.import_delivery_count, 0) > 1 as is_revised
    from exports
    full outer join imports
        on
            exports.freq = imports.freq
            and exports.period = imports.period
            and exports.exporter_iso3 = imports.exporter_iso3
            and exports.importer_iso3 = imports.importer_iso3
            and exports.hs6 = imports.hs6

)

select * from final
