-- Every HS6 code of every HS edition since 1992, mapped to HS 2022 through the chain of UNSD
-- correlation tables. A code that splits (1:n, n:n) is spread over its successors with equal
-- weights at each step (weights of one code sum to 1) and flagged `is_split`.
with recursive

links as (

    select * from {{ ref('stg_reference__hs_correlations') }}

),

steps as (

    select
        hs_year_before,
        hs_year_after,
        hs6_before,
        hs6_after,
        cast(1.0 as double)
        / count(*) over (partition by hs_year_before, hs6_before) as step_weight
    from links

),

hs2022_codes as (

    select distinct hs6_after as hs6
    from steps
    where hs_year_after = 2022

),

chain (hs_year, hs6_from, hs6_2022, weight, is_split) as (

    select
        2022 as hs_year,
        hs6 as hs6_from,
        hs6 as hs6_2022,
        cast(1.0 as double) as weight,
        false as is_split
    from hs2022_codes

    union all

    select
        steps.hs_year_before,
        steps.hs6_before,
        chain.hs6_2022,
        steps.step_weight * chain.weight,
        chain.is_split or steps.step_weight < 1
    from steps
    inner join chain
        on
            steps.hs_year_after = chain.hs_year
            and steps.hs6_after = chain.hs6_from

),

merged as (

    select
        hs_year,
        hs6_from,
        hs6_2022,
        sum(weight) as weight,
        bool_or(is_split) as is_split
    from chain
    group by hs_year, hs6_from, hs6_2022

),

-- a few chains break (a successor missing from the next table): spread what reached 2022
final as (

    select
        hs_year,
        hs6_from,
        hs6_2022,
        weight / sum(weight) over (partition by hs_year, hs6_from) as weight,
        is_split
    from merged

)

select * from final
