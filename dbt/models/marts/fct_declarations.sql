{{ config(**period_model_config()) }}

-- Every harmonised declaration (BI contract), labelled with how the mirror table treats it:
-- comparable X/M flows, re-exports and re-imports, confidential and unallocated trade are
-- separated here and never counted as breaches.
with

declarations as (

    select * from {{ ref('int_trade__declarations_preferred') }}
    where {{ in_build_periods() }}

),

final as (

    select
        freq,
        period,
        period_start,
        reporter_iso3,
        partner_iso3,
        partner_role,
        flow_code,
        hs6,
        value_usd,
        net_weight_kg,
        source,
        sources_available,
        delivered_codes,
        is_concordance_split,
        is_outside_concordance,
        is_confidential,
        delivery_count > 1 as is_revised,
        case
            when is_confidential then 'confidential'
            when partner_area_type <> 'country' then 'unallocated'
            when flow_code = 'RX' then 're_export'
            when flow_code = 'RM' then 're_import'
            when flow_code in ('X', 'M') then 'mirror_comparable'
            else 'other_flow'
        end as category
    from declarations

)

select * from final
