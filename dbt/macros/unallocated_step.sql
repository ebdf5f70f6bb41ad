{#- The steps of int_unallocated__allocation: each pool value is allocated pro rata to the
    claims' remaining excess (importers' CIF pools against claims at the claim's CIF/FOB factor,
    int_unallocated__claims), what is left of both going to the next step:
      1 nes pools × claims of the same HS6;  2 ... of the same HS4;
      3 confidential pools × claims of the same partner and the HS chapter the code names;
      4 nes pools × claims of the same HS2;
      5 Comtrade chapter-99 pools ("commodities not specified according to kind", where
        reporters put confidential trade) × claims of the same partner, any product.
    Each step is a model of its own, int_unallocated__step_<step> (a table), that reads the
    previous step's table: as CTEs of one query, each step read the previous step's claims and
    pools twice (the join and the aggregate), and Spark's inlined plan grew about threefold per
    step, past what its driver could analyse. -#}

{#- step, the pool kind it allocates, the digits of the HS code the claims and pools meet on -#}
{% macro unallocated_steps() %}
    {{ return([
        {'step': 1, 'pool_kind': 'nes', 'hs_digits': 6},
        {'step': 2, 'pool_kind': 'nes', 'hs_digits': 4},
        {'step': 3, 'pool_kind': 'confidential', 'hs_digits': 2},
        {'step': 4, 'pool_kind': 'nes', 'hs_digits': 2},
        {'step': 5, 'pool_kind': 'unspecified', 'hs_digits': 0},
    ]) }}
{% endmacro %}


{#- One step's SQL: the claims and pools of the previous step (step 1: int_unallocated__claims
    and int_unallocated__pools, nothing allocated yet), each with what is left of it
    (remaining_usd) after this step and what this step moved (allocated_usd). One row per
    claim (`allocation_role` 'claim') and per pool declaration ('pool'), whether or not it
    moved anything. -#}
{% macro unallocated_step(step) %}
{%- set this_step = unallocated_steps()[step - 1] %}
{%- set kind = this_step.pool_kind %}
{#- a confidential or chapter-99 pool names its partner: it meets that partner's claims only -#}
{%- set partner_specific = kind in ('confidential', 'unspecified') %}
{%- set claim_key = "concat_ws('|', freq, period, direction, reporter_iso3, left(hs6, "
    ~ this_step.hs_digits ~ ")" ~ (", counterpart_iso3" if partner_specific else "") ~ ")" %}
{%- set pool_key = "concat_ws('|', freq, period, direction, reporter_iso3, left(pool_code, "
    ~ this_step.hs_digits ~ ")" ~ (", pool_partner_iso3" if partner_specific else "") ~ ")" %}
{#- what a step carries over besides remaining_usd (the step tables' columns, in order) -#}
{%- set claim_columns = [
    'freq', 'period', 'direction', 'reporter_iso3', 'exporter_iso3', 'importer_iso3', 'hs6',
    'counterpart_iso3', 'claim_usd', 'pool_valuation_factor',
] %}
{%- set pool_columns = [
    'freq', 'period', 'direction', 'reporter_iso3', 'pool_kind', 'pool_code',
    'pool_partner_iso3', 'declared_partner_iso3', 'declared_code', 'pool_value_usd',
] %}
with

{% if step == 1 -%}
claims as (

    select
        {%- for column in claim_columns %}
        {{ column }},
        {%- endfor %}
        claim_usd as remaining_usd
    from {{ ref('int_unallocated__claims') }}
    where {{ in_trailing_periods() }}

),

pools as (

    select
        {%- for column in pool_columns %}
        {{ column }},
        {%- endfor %}
        pool_value_usd as remaining_usd
    from {{ ref('int_unallocated__pools') }}
    where {{ in_trailing_periods() }}

),
{%- else -%}
previous_step as (

    select * from {{ ref('int_unallocated__step_' ~ (step - 1)) }}
    where {{ in_trailing_periods() }}

),

claims as (

    select
        {%- for column in claim_columns %}
        {{ column }},
        {%- endfor %}
        remaining_usd
    from previous_step
    where allocation_role = 'claim'

),

pools as (

    select
        {%- for column in pool_columns %}
        {{ column }},
        {%- endfor %}
        remaining_usd
    from previous_step
    where allocation_role = 'pool'

),
{%- endif %}

demand as (

    select
        {{ claim_key }} as group_key,
        {{ sum_ordered('remaining_usd * pool_valuation_factor', 'exporter_iso3, importer_iso3, hs6') }}
            as demand_usd
    from claims
    where remaining_usd > 0
    group by all

),

supply as (

    select
        {{ pool_key }} as group_key,
        {{ sum_ordered('remaining_usd', 'declared_partner_iso3, declared_code') }} as supply_usd,
        {{ string_agg_sorted('declared_partner_iso3', "','", distinct=true) }} as pool_partners
    from pools
    where pool_kind = '{{ kind }}' and remaining_usd > 0
    group by all

),

rates as (

    select
        demand.group_key,
        supply.pool_partners,
        least(1, supply.supply_usd / demand.demand_usd) as claim_rate,
        least(1, demand.demand_usd / supply.supply_usd) as pool_rate
    from demand
    inner join supply on demand.group_key = supply.group_key

),

claims_allocated as (

    select
        {%- for column in claim_columns %}
        claims.{{ column }},
        {%- endfor %}
        claims.remaining_usd * (1 - coalesce(rates.claim_rate, 0)) as remaining_usd,
        claims.remaining_usd * coalesce(rates.claim_rate, 0) as allocated_usd,
        rates.pool_partners
    from claims
    left join rates on {{ claim_key }} = rates.group_key

),

pools_allocated as (

    select
        {%- for column in pool_columns %}
        pools.{{ column }},
        {%- endfor %}
        pools.remaining_usd * (1 - coalesce(rates.pool_rate, 0)) as remaining_usd,
        pools.remaining_usd * coalesce(rates.pool_rate, 0) as allocated_usd
    from pools
    left join rates
        on
            pools.pool_kind = '{{ kind }}'
            and {{ pool_key }} = rates.group_key

),

final as (

    select
        'claim' as allocation_role,
        freq,
        period,
        direction,
        reporter_iso3,
        exporter_iso3,
        importer_iso3,
        hs6,
        counterpart_iso3,
        claim_usd,
        pool_valuation_factor,
        cast(null as {{ dbt.type_string() }}) as pool_kind,
        cast(null as {{ dbt.type_string() }}) as pool_code,
        cast(null as {{ dbt.type_string() }}) as pool_partner_iso3,
        cast(null as {{ dbt.type_string() }}) as declared_partner_iso3,
        cast(null as {{ dbt.type_string() }}) as declared_code,
        cast(null as double) as pool_value_usd,
        remaining_usd,
        -- in the claim's valuation (FOB)
        allocated_usd,
        pool_partners
    from claims_allocated
    union all
    select
        'pool' as allocation_role,
        freq,
        period,
        direction,
        reporter_iso3,
        cast(null as {{ dbt.type_string() }}) as exporter_iso3,
        cast(null as {{ dbt.type_string() }}) as importer_iso3,
        cast(null as {{ dbt.type_string() }}) as hs6,
        cast(null as {{ dbt.type_string() }}) as counterpart_iso3,
        cast(null as double) as claim_usd,
        cast(null as double) as pool_valuation_factor,
        pool_kind,
        pool_code,
        pool_partner_iso3,
        declared_partner_iso3,
        declared_code,
        pool_value_usd,
        remaining_usd,
        -- in the pool's valuation (CIF for an importer's pool)
        allocated_usd,
        cast(null as {{ dbt.type_string() }}) as pool_partners
    from pools_allocated

)

select * from final
{%- endmacro %}
