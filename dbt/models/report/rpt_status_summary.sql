-- The report's numbers by frequency and status: flows, value (the larger declaration) and how
-- much of it agrees within tolerance. The report adds them up by the status classes of
-- expectations/statuses.yml (compared, explained, not_compared), which dbt does not read: one
-- vocabulary, kept where the checks read it.
with

flows as (

    select
        freq,
        status,
        gap_usd,
        abs(gap_pct) > tolerance_pct as is_beyond_tolerance,
        -- a side that did not declare counts as nothing (the value of a one-sided flow is
        -- the side that declared it)
        greatest(coalesce(export_value_usd, 0), coalesce(import_value_fob_usd, 0)) as value_usd
    from {{ ref('fct_mirror_trade') }}

),

final as (

    select
        freq,
        status,
        count(*) as flows,
        count(*) filter (where is_beyond_tolerance) as flows_beyond_tolerance,
        sum(value_usd) as value_usd,
        coalesce(sum(value_usd) filter (where not is_beyond_tolerance), 0)
            as value_within_tolerance_usd,
        sum(gap_usd) as net_gap_usd
    from flows
    group by freq, status

)

select * from final
