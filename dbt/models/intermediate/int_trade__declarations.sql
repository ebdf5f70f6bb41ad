{{ config(**period_model_config()) }}

-- One harmonised grain for every customs declaration, whatever its source: reporter, partner
-- (ISO-3), flow, HS6 in HS 2022 (older editions through the UNSD chain, splits weighted),
-- period, value in USD, net weight. Comtrade totals and Comext (aggregated from CN8 to HS6,
-- converted at the ECB monthly average) meet here; the source is kept on every row.
-- The valuation travels with the value: `cif_value_usd` / `fob_value_usd` as the declaration
-- states them (Comtrade `cifvalue` / `fobvalue`; an import with only a FOB value comes from an
-- importer that values imports FOB). Comext follows the EU rules: imports CIF, exports FOB.
with

areas as (

    select
        comtrade_code,
        iso3,
        iso2,
        area_type
    from {{ ref('stg_reference__country_codes') }}

),

countries_by_iso2 as (

    select
        iso2,
        iso3
    from areas
    where area_type = 'country'

),

concordance as (

    select * from {{ ref('int_hs__concordance_to_hs2022') }}

),

comtrade as (

    select
        'comtrade' as source,  -- noqa: RF04
        totals.freq,
        totals.period,
        totals.period_start,
        coalesce(reporter.iso3, '#' || totals.reporter_code) as reporter_iso3,
        coalesce(partner.iso3, '#' || totals.partner_code) as partner_iso3,
        coalesce(partner.area_type, 'unknown') as partner_area_type,
        totals.flow_code,
        totals.hs6 as hs6_delivered,
        {{ hs_year_of_classification('totals.classification_code') }} as hs_year_delivered,
        totals.primary_value_usd as value_usd,
        totals.cif_value_usd,
        totals.fob_value_usd,
        totals.net_weight_kg,
        false as is_confidential,
        totals.delivery_count
    from {{ ref('int_comtrade__totals_deduplicated') }} as totals
    left join areas as reporter on totals.reporter_code = reporter.comtrade_code
    left join areas as partner on totals.partner_code = partner.comtrade_code
    where
        totals.partner_code <> 0  -- "World" is a total, never a partner
        and {{ in_build_periods('totals.freq', 'totals.period') }}

),

comext as (

    select
        'comext' as source,  -- noqa: RF04
        case when monthly.is_annual_total then 'A' else 'M' end as freq,
        case
            when monthly.is_annual_total then left(monthly.period, 4) else monthly.period
        end as period,
        monthly.period_start,
        coalesce(reporter.iso3, '#' || monthly.reporter_iso2) as reporter_iso3,
        coalesce(partner.iso3, '#' || monthly.partner_iso2) as partner_iso3,
        case when partner.iso3 is null then 'unknown' else 'country' end as partner_area_type,
        monthly.flow_code,
        coalesce(monthly.hs6, left(monthly.cn8, 6)) as hs6_delivered,
        {{ hs_year_of_period('year(monthly.period_start)') }} as hs_year_delivered,
        sum(monthly.value_usd) as value_usd,
        sum(case when monthly.flow_code in ('M', 'RM') then monthly.value_usd end) as cif_value_usd,
        sum(case when monthly.flow_code in ('X', 'RX') then monthly.value_usd end) as fob_value_usd,
        sum(monthly.quantity_kg) as net_weight_kg,
        monthly.is_confidential,
        1 as delivery_count
    from {{ ref('stg_comext__monthly') }} as monthly
    left join countries_by_iso2 as reporter on monthly.reporter_iso2 = reporter.iso2
    left join countries_by_iso2 as partner on monthly.partner_iso2 = partner.iso2
    where
        monthly.is_current_file_version
        and monthly.cn_level = 'cn8'
    group by all

),

unioned as (

    select * from comtrade
    union all
    select * from comext

),

final as (

    select
        unioned.source,
        unioned.freq,
        unioned.period,
        unioned.period_start,
        unioned.reporter_iso3,
        unioned.partner_iso3,
        unioned.partner_area_type,
        unioned.flow_code,
        case when unioned.flow_code in ('M', 'RM') then 'origin' else 'destination' end
            as partner_role,
        -- confidential codes (Comext 99...) have no HS6: they keep their delivered code
        case
            when unioned.is_confidential then unioned.hs6_delivered
            else coalesce(concordance.hs6_2022, unioned.hs6_delivered)
        end as hs6,
        unioned.hs6_delivered,
        unioned.hs_year_delivered,
        coalesce(concordance.weight, 1.0) as concordance_weight,
        coalesce(concordance.is_split, false) as is_concordance_split,
        concordance.hs6_2022 is null and not unioned.is_confidential as is_outside_concordance,
        unioned.value_usd * coalesce(concordance.weight, 1.0) as value_usd,
        unioned.cif_value_usd * coalesce(concordance.weight, 1.0) as cif_value_usd,
        unioned.fob_value_usd * coalesce(concordance.weight, 1.0) as fob_value_usd,
        unioned.net_weight_kg * coalesce(concordance.weight, 1.0) as net_weight_kg,
        unioned.is_confidential,
        unioned.delivery_count
    from unioned
    left join concordance
        on
            unioned.hs_year_delivered = concordance.hs_year
            and unioned.hs6_delivered = concordance.hs6_from
            and not unioned.is_confidential
    where {{ in_build_periods('unioned.freq', 'unioned.period') }}

)

select * from final
