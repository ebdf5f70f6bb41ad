{{ config(**period_model_config()) }}

-- The mirror join: what the exporter declared (flow X, partner = importer) against what the
-- importer declared (flow M, partner = exporter), on freq × period × exporter × importer × HS6
-- (HS 2022). Re-exports and re-imports (RX/RM) and confidential declarations are not paired
-- here: fct_declarations keeps them, labelled. A side that did not declare the flow is null.
-- The importer's valuation comes along (`import_cif_value_usd`, `import_fob_value_usd`): an
-- importer that reports FOB needs no CIF/FOB margin (int_mirror__flows_fob).
with

declarations as (

    select * from {{ ref('int_trade__declarations_preferred') }}
    where {{ in_build_periods() }}

),

exports as (

    select
        freq,
        period,
        period_start,
        reporter_iso3 as exporter_iso3,
        partner_iso3 as importer_iso3,
        hs6,
        partner_area_type as importer_area_type,
        value_usd as export_value_usd,
        net_weight_kg as export_net_weight_kg,
        source as export_source,
        is_confidential as is_export_confidential,
        delivery_count as export_delivery_count
    from declarations
    where flow_code = 'X' and not is_confidential

),

imports as (

    select
        freq,
        period,
        period_start,
        partner_iso3 as exporter_iso3,
        reporter_iso3 as importer_iso3,
        hs6,
        partner_area_type as exporter_area_type,
        value_usd as import_value_usd,
        cif_value_usd as import_cif_value_usd,
        fob_value_usd as import_fob_value_usd,
        net_weight_kg as import_net_weight_kg,
        source as import_source,
        is_confidential as is_import_confidential,
        delivery_count as import_delivery_count
    from declarations
    where flow_code = 'M' and not is_confidential

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
        imports.import_cif_value_usd,
        imports.import_fob_value_usd,
        exports.export_net_weight_kg,
        imports.import_net_weight_kg,
        exports.export_source,
        imports.import_source,
        -- the counterpart as each side named it: a country, or an "areas nes"-type partner
        coalesce(exports.importer_area_type, 'country') = 'country'
        and coalesce(imports.exporter_area_type, 'country') = 'country' as is_country_pair,
        coalesce(exports.is_export_confidential, false)
        or coalesce(imports.is_import_confidential, false) as is_confidential,
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
