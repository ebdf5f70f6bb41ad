-- The gap distribution, binned here so the page carries bars, not rows, whatever the number
-- of flows: flows per frequency, status and bin of gap_pct (var report_gap_bin_width points).
with

gaps as (

    select
        freq,
        status,
        -- floor is a bigint on Spark, a double on DuckDB: the contract's double on both
        cast(
            floor(gap_pct / {{ var('report_gap_bin_width') }}) * {{ var('report_gap_bin_width') }}
            as double
        ) as bin_start
    from {{ ref('fct_mirror_trade') }}
    where gap_pct is not null

),

final as (

    select
        freq,
        status,
        bin_start,
        cast({{ var('report_gap_bin_width') }} as double) as bin_width,
        count(*) as flows
    from gaps
    group by freq, status, bin_start

)

select * from final
