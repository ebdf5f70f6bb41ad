-- The estimates (margins, reporter noise, detected transit corridors) are computed together and
-- every row that used them carries their vintage: one vintage in all of them. Two would mean
-- periods built with different models of the world in one table (an estimate table dropped by
-- hand and rebuilt alone, say). Each row returned names a table and a vintage it holds; the
-- remedy is `mirror run --refresh-estimates` (docs/architecture.md).
-- Dagster shows it as a check of fct_mirror_trade, the published table it guards.
{{ config(severity='error', meta={'dagster': {'ref': {'name': 'fct_mirror_trade'}}}) }}

with

vintages as (

    {%- set stamped = [
        'int_cif_fob__margins',
        'int_reporter__noise',
        'int_transit__route_members',
        'int_transit__corridor_evidence',
        'int_transit__corridors',
        'fct_mirror_trade',
        'fct_transit_corridors',
        'fct_transit_evidence',
    ] %}
    {%- for model in stamped %}
        select distinct
            '{{ model }}' as model_name,
            estimate_vintage
        from {{ ref(model) }}
        where estimate_vintage is not null
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

totals as (

    select count(distinct estimate_vintage) as distinct_vintages
    from vintages

),

counted as (

    -- the count over all rows joined, not a window: Spark has no distinct window count
    select
        vintages.model_name,
        vintages.estimate_vintage,
        totals.distinct_vintages
    from vintages
    cross join totals

)

select
    model_name,
    estimate_vintage
from counted
where distinct_vintages > 1
