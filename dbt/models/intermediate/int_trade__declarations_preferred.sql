{{ config(**period_model_config()) }}

-- One declaration per freq × period × reporter × partner × flow × HS6 (HS 2022): the
-- delivered codes that concord to the same HS 2022 code are added up, and when several
-- sources carry the same declaration the first in var `declaration_source_priority` wins.
-- A CIF or FOB value is kept only when every summed code carried it (a partial sum would
-- pose as the whole declaration's valuation).
with

declarations as (

    select * from {{ ref('int_trade__declarations') }}
    where {{ in_build_periods() }}

),

per_source as (

    select
        source,
        freq,
        period,
        min(period_start) as period_start,
        reporter_iso3,
        partner_iso3,
        min(partner_area_type) as partner_area_type,
        flow_code,
        min(partner_role) as partner_role,
        hs6,
        sum(value_usd) as value_usd,
        case when count(cif_value_usd) = count(*) then sum(cif_value_usd) end as cif_value_usd,
        case when count(fob_value_usd) = count(*) then sum(fob_value_usd) end as fob_value_usd,
        sum(net_weight_kg) as net_weight_kg,
        bool_or(is_concordance_split) as is_concordance_split,
        bool_or(is_outside_concordance) as is_outside_concordance,
        bool_or(is_confidential) as is_confidential,
        max(delivery_count) as delivery_count,
        count(*) as delivered_codes
    from declarations
    group by source, freq, period, reporter_iso3, partner_iso3, flow_code, hs6

),

ranked as (

    select
        *,
        count(*) over (
            partition by freq, period, reporter_iso3, partner_iso3, flow_code, hs6
        ) as sources_available
    from per_source

),

final as (

    select *
    from ranked
    qualify row_number() over (
        partition by freq, period, reporter_iso3, partner_iso3, flow_code, hs6
        order by
            -- the source's place in the priority list (unlisted: last)
            case source
                {%- for listed in var('declaration_source_priority') %}
                    when '{{ listed }}' then {{ loop.index }}
                {%- endfor %}
            end asc nulls last,
            source asc
    ) = 1

)

select * from final
