-- Trade declared to no country, allocated to the flows it most likely belongs to (BACI's
-- treatment of "Areas, nes"; Gaulier & Zignago 2010).
-- Pools (int_unallocated__pools): the declarations to a non-country partner (Comtrade areas
-- nes, special categories, bunkers, free zones), Comext confidential codes and Comtrade
-- chapter 99, per reporter × freq × period × direction.
-- Claims (int_unallocated__claims): the flows still unexplained whose gap runs the pool's
-- way; the claim is the excess, d = |M_fob − X|.
-- Steps (int_unallocated__step_1 ... _5, macro unallocated_step), each pool value allocated
-- pro rata to the claims' remaining excess, what is left going to the next step:
--   1 nes pools × claims of the same HS6;  2 ... of the same HS4;
--   3 confidential pools × claims of the same partner and the HS chapter the code names;
--   4 nes pools × claims of the same HS2;
--   5 Comtrade chapter-99 pools × claims of the same partner, any product.
-- One row per claim × step that received something (`allocation_role` 'claim') and per pool
-- declaration × step that gave something ('pool'); fct_mirror_trade sums them.
-- Built by trailing periods (macro trailing_model_config), as the steps it reads.
{{ config(**trailing_model_config()) }}

with

claim_rows as (

    {%- for step in unallocated_steps() %}
        select
            'claim' as allocation_role,
            {{ step.step }} as allocation_step,
            '{{ step.pool_kind }}' as pool_kind,
            {{ step.hs_digits }} as hs_digits,
            freq,
            period,
            direction,
            exporter_iso3,
            importer_iso3,
            hs6,
            cast(null as {{ dbt.type_string() }}) as pool_reporter_iso3,
            pool_partners,
            cast(null as {{ dbt.type_string() }}) as declared_code,
            claim_usd as claim_or_pool_usd,
            -- in the claim's valuation (FOB)
            allocated_usd
        from {{ ref('int_unallocated__step_' ~ step.step) }}
        where allocation_role = 'claim' and allocated_usd > 0 and {{ in_trailing_periods() }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

pool_rows as (

    {%- for step in unallocated_steps() %}
        select
            'pool' as allocation_role,
            {{ step.step }} as allocation_step,
            pool_kind,
            {{ step.hs_digits }} as hs_digits,
            freq,
            period,
            direction,
            case direction when 'export' then reporter_iso3 else declared_partner_iso3 end
                as exporter_iso3,
            case direction when 'import' then reporter_iso3 else declared_partner_iso3 end
                as importer_iso3,
            declared_code as hs6,
            reporter_iso3 as pool_reporter_iso3,
            declared_partner_iso3 as pool_partners,
            declared_code,
            pool_value_usd as claim_or_pool_usd,
            -- in the pool's valuation (CIF for an importer's pool)
            allocated_usd
        from {{ ref('int_unallocated__step_' ~ step.step) }}
        where allocation_role = 'pool' and allocated_usd > 0 and {{ in_trailing_periods() }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

final as (

    select * from claim_rows
    union all
    select * from pool_rows

)

select * from final
