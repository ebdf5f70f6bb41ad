-- The largest flows of each status (var report_findings_per_status of them) with the reason
-- the mart gives: the report's findings. Every status is here; the report shows those whose
-- class (expectations/statuses.yml) is not plain agreement.
-- Ranked among candidates only: a flow is in its status's top n only if it is in the top n of
-- its status and frequency kind (annual flows rank first), so rows below that group's n-th
-- largest value are left out before the ranking (ties and null values kept). Ranking every
-- flow sorted the whole mart: 3 s of each build at 5M, against 0.5 s; the same rows.
{%- set n = var('report_findings_per_status') | int %}
{%- set columns = [
    'status', 'freq', 'period', 'exporter_iso3', 'importer_iso3', 'hs6', 'export_value_usd',
    'import_value_fob_usd', 'gap_pct', 'status_reason',
] %}

with

flows as (

    select
        {{ columns | join(',\n        ') }},
        greatest(export_value_usd, import_value_fob_usd) as value_usd
    from {{ ref('fct_mirror_trade') }}

),

cutoffs as (

    select
        status,
        freq = 'A' as is_annual,
        {{ nth_largest('value_usd', n) }} as cutoff_usd
    from flows
    group by status, freq = 'A'

),

candidates as (

    select flows.*
    from flows
    inner join cutoffs
        on
            flows.status = cutoffs.status
            and (flows.freq = 'A') = cutoffs.is_annual
    where
        cutoffs.cutoff_usd is null
        or flows.value_usd is null
        or flows.value_usd >= cutoffs.cutoff_usd

),

ranked as (

    select
        {{ columns | join(',\n        ') }},
        -- row_number is an int on Spark, a bigint on DuckDB: the contract's bigint on both
        cast(row_number() over (
            partition by status
            order by
                freq = 'A' desc,
                value_usd desc nulls last,
                period asc,
                exporter_iso3 asc,
                importer_iso3 asc,
                hs6 asc
        ) as bigint) as finding_rank
    from candidates

),

final as (

    select * from ranked
    where finding_rank <= {{ n }}

)

select * from final
