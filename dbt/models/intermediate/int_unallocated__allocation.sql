-- Trade declared to no country, allocated to the flows it most likely belongs to (BACI's
-- treatment of "Areas, nes"; Gaulier & Zignago 2010). An importer that books imports to a
-- non-country partner (Comtrade 899 "Areas, nes", 839 "Special categories", 837 bunkers, 838
-- free zones, regional "nes" areas) leaves its partners' exports to it unmatched; an exporter
-- that declares exports to such a partner leaves its partners' imports unmatched; a Comext
-- confidential code (CN8 `99CC....`, chapter CC) hides the product, not the partner.
-- Pools: those declarations, per reporter × freq × period × direction (what the importer
-- booked as imports, CIF; what the exporter declared as exports, FOB).
-- Claims: the flows still unexplained after stage 1, classification and timing
-- (int_mirror__gaps, int_mirror__classification), neither reporter noisy (int_reporter__noise),
-- whose gap runs the pool's way: the exporter declared more than
-- the importer (an importer's pool), or the importer more than the exporter (an exporter's
-- pool); the claim is the excess, d = |M_fob − X| (a missing side as zero).
-- Steps, each pool value allocated pro rata to the claims' remaining excess (importers' CIF
-- pools against claims at the claim's CIF/FOB factor), what is left going to the next step:
--   1 nes pools × claims of the same HS6;  2 ... of the same HS4;
--   3 confidential pools × claims of the same partner and the HS chapter the code names;
--   4 nes pools × claims of the same HS2;
--   5 Comtrade chapter-99 pools ("commodities not specified according to kind", where
--     reporters put confidential trade) × claims of the same partner, any product.
-- One row per claim × step that received something (`allocation_role` 'claim') and per pool
-- declaration × step that gave something ('pool'); fct_mirror_trade sums them.
with

declarations as (

    select * from {{ ref('int_trade__declarations_preferred') }}
    where flow_code in ('X', 'M')

),

gaps as (

    select * from {{ ref('int_mirror__gaps') }}

),

classified as (

    select * from {{ ref('int_mirror__classification') }}

),

pools as (

    select
        freq,
        period,
        case flow_code when 'M' then 'import' else 'export' end as direction,
        reporter_iso3,
        -- a confidential code hides the product, not the partner: only that partner's flows
        case
            when partner_area_type = 'country' then partner_iso3
        end as pool_partner_iso3,
        partner_iso3 as declared_partner_iso3,
        case
            when is_confidential then 'confidential'
            when partner_area_type <> 'country' then 'nes'
            else 'unspecified'
        end as pool_kind,
        -- the HS code the pool names: HS6 for a nes partner, the chapter of a Comext `99CC`
        -- code, none for Comtrade's chapter 99 (commodities not specified according to kind)
        case
            when is_confidential then substr(hs6, 3, 2)
            when partner_area_type <> 'country' then hs6
            else ''
        end as pool_code,
        hs6 as declared_code,
        value_usd as pool_value_usd
    from declarations
    where
        value_usd > 0
        and reporter_iso3 not like '#%'
        and (
            is_confidential
            or partner_area_type <> 'country'
            or left(hs6, 2) = '99'
        )

),

claims as (

    select
        gaps.freq,
        gaps.period,
        gaps.exporter_iso3,
        gaps.importer_iso3,
        gaps.hs6,
        -- whose pool may hold the missing value
        case
            when
                coalesce(gaps.export_value_usd, 0) > coalesce(gaps.import_value_fob_usd, 0)
                then 'import'
            else 'export'
        end as direction,
        case
            when
                coalesce(gaps.export_value_usd, 0) > coalesce(gaps.import_value_fob_usd, 0)
                then gaps.importer_iso3
            else gaps.exporter_iso3
        end as reporter_iso3,
        case
            when
                coalesce(gaps.export_value_usd, 0) > coalesce(gaps.import_value_fob_usd, 0)
                then gaps.exporter_iso3
            else gaps.importer_iso3
        end as counterpart_iso3,
        abs(coalesce(gaps.export_value_usd, 0) - coalesce(gaps.import_value_fob_usd, 0))
            as claim_usd,
        -- an importer's pool is CIF: a claim weighs its FOB excess at its own margin
        case
            when
                coalesce(gaps.export_value_usd, 0) > coalesce(gaps.import_value_fob_usd, 0)
                then 1 + gaps.cif_fob_margin
            else 1.0
        end as pool_valuation_factor
    from gaps
    left join classified
        on
            gaps.freq = classified.freq
            and gaps.period = classified.period
            and gaps.exporter_iso3 = classified.exporter_iso3
            and gaps.importer_iso3 = classified.importer_iso3
            and gaps.hs6 = classified.hs6
    where
        gaps.stage_status is null
        and gaps.is_country_pair
        and not gaps.is_confidential
        and classified.hs6 is null
        -- a window that agrees is timing (fct_mirror_trade), not trade booked elsewhere
        and not gaps.is_timing_window_agreed
        -- a noisy reporter's gaps are noise, not trade booked elsewhere: they would take
        -- their share of a pool from the flow it belongs to
        and not gaps.is_noisy_pair

),

claims_0 as (

    select
        *,
        claim_usd as remaining_usd
    from claims

),

pools_0 as (

    select
        *,
        pool_value_usd as remaining_usd
    from pools

),
{#- (step, pool kind, digits of the HS code the claims and pools meet on) -#}
{%- set steps = [(1, 'nes', 6), (2, 'nes', 4), (3, 'confidential', 2), (4, 'nes', 2)] %}
{%- set steps = steps + [(5, 'unspecified', 0)] %}
{#- the columns a step carries over (not remaining_usd, which it recomputes); grows by step -#}
{%- set claim_columns = [
    'freq', 'period', 'exporter_iso3', 'importer_iso3', 'hs6', 'direction', 'reporter_iso3',
    'counterpart_iso3', 'claim_usd', 'pool_valuation_factor',
] %}
{%- set pool_columns = [
    'freq', 'period', 'direction', 'reporter_iso3', 'pool_partner_iso3', 'declared_partner_iso3',
    'pool_kind', 'pool_code', 'declared_code', 'pool_value_usd',
] %}
{%- for step, kind, digits in steps %}
    {%- set partner_specific = kind in ('confidential', 'unspecified') %}
{%- set claim_key = "concat_ws('|', freq, period, direction, reporter_iso3, left(hs6, " ~ digits ~ ")"
    ~ (", counterpart_iso3" if partner_specific else "") ~ ")" %}
{%- set pool_key = "concat_ws('|', freq, period, direction, reporter_iso3, left(pool_code, " ~ digits ~ ")"
    ~ (", pool_partner_iso3" if partner_specific else "") ~ ")" %}

    demand_{{ step }} as (

        select
            {{ claim_key }} as group_key,
            {{ sum_ordered('remaining_usd * pool_valuation_factor', 'exporter_iso3, importer_iso3, hs6') }}
                as demand_usd
        from claims_{{ step - 1 }}
        where remaining_usd > 0
        group by all

    ),

    supply_{{ step }} as (

        select
            {{ pool_key }} as group_key,
            {{ sum_ordered('remaining_usd', 'declared_partner_iso3, declared_code') }} as supply_usd,
            {{ string_agg_sorted('declared_partner_iso3', "','", distinct=true) }}
                as pool_partners
        from pools_{{ step - 1 }}
        where pool_kind = '{{ kind }}' and remaining_usd > 0
        group by all

    ),

    rates_{{ step }} as (

        select
            demand_{{ step }}.group_key,
            supply_{{ step }}.pool_partners,
            least(1, supply_{{ step }}.supply_usd / demand_{{ step }}.demand_usd) as claim_rate,
            least(1, demand_{{ step }}.demand_usd / supply_{{ step }}.supply_usd) as pool_rate
        from demand_{{ step }}
        inner join supply_{{ step }} on demand_{{ step }}.group_key = supply_{{ step }}.group_key

    ),

    claims_{{ step }} as (

        select
            {%- for column in claim_columns %}
                claims_{{ step - 1 }}.{{ column }},
            {%- endfor %}
            claims_{{ step - 1 }}.remaining_usd
            * (1 - coalesce(rates_{{ step }}.claim_rate, 0)) as remaining_usd,
            claims_{{ step - 1 }}.remaining_usd
            * coalesce(rates_{{ step }}.claim_rate, 0) as allocated_{{ step }}_usd,
            rates_{{ step }}.pool_partners as pool_partners_{{ step }}
        from claims_{{ step - 1 }}
        left join rates_{{ step }}
            on
                {{ claim_key }} = rates_{{ step }}.group_key

    ),

    pools_{{ step }} as (

        select
            {%- for column in pool_columns %}
                pools_{{ step - 1 }}.{{ column }},
            {%- endfor %}
            pools_{{ step - 1 }}.remaining_usd
            * (1 - coalesce(rates_{{ step }}.pool_rate, 0)) as remaining_usd,
            pools_{{ step - 1 }}.remaining_usd
            * coalesce(rates_{{ step }}.pool_rate, 0) as used_{{ step }}_usd
        from pools_{{ step - 1 }}
        left join rates_{{ step }}
            on
                pools_{{ step - 1 }}.pool_kind = '{{ kind }}'
                and {{ pool_key }} = rates_{{ step }}.group_key

    ),
    {%- do claim_columns.extend(['allocated_' ~ step ~ '_usd', 'pool_partners_' ~ step]) %}
    {%- do pool_columns.append('used_' ~ step ~ '_usd') %}
{%- endfor %}

claim_rows as (

    {%- for step, kind, digits in steps %}
        select
            'claim' as allocation_role,
            {{ step }} as allocation_step,
            '{{ kind }}' as pool_kind,
            {{ digits }} as hs_digits,
            freq,
            period,
            direction,
            exporter_iso3,
            importer_iso3,
            hs6,
            cast(null as {{ dbt.type_string() }}) as pool_reporter_iso3,
            pool_partners_{{ step }} as pool_partners,
            cast(null as {{ dbt.type_string() }}) as declared_code,
            claim_usd as claim_or_pool_usd,
            -- in the claim's valuation (FOB)
            allocated_{{ step }}_usd as allocated_usd
        from claims_{{ steps | length }}
        where allocated_{{ step }}_usd > 0
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

pool_rows as (

    {%- for step, kind, digits in steps %}
        select
            'pool' as allocation_role,
            {{ step }} as allocation_step,
            pool_kind,
            {{ digits }} as hs_digits,
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
            used_{{ step }}_usd as allocated_usd
        from pools_{{ steps | length }}
        where used_{{ step }}_usd > 0
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
