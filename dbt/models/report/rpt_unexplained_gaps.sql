-- Every flow whose gap nothing explains: the gap left after the explanation that applied
-- (residual_gap_pct, the gap itself where none did) is beyond the flow's tolerance. That is
-- what `breach` means (fct_mirror_trade's tests hold it), said with the mart's numbers rather
-- than a list of statuses. Ranked, largest first, for the report's list of biggest gaps; the
-- report applies the waivers of expectations/ (which expire by date) when it reads them.
with

flows as (

    select * from {{ ref('fct_mirror_trade') }}

),

unexplained as (

    select
        freq,
        period,
        exporter_iso3,
        importer_iso3,
        hs6,
        status,
        declared_sides,
        corridor_id,
        export_value_usd,
        import_value_fob_usd,
        gap_usd,
        gap_pct,
        tolerance_pct,
        residual_gap_pct
    from flows
    where abs(residual_gap_pct) > tolerance_pct

),

final as (

    select
        *,
        -- annual first (the figure people quote), then by the size of the gap in USD; an int
        -- on Spark, a bigint on DuckDB: the contract's bigint on both
        cast(row_number() over (
            order by
                freq = 'A' desc,
                abs(gap_usd) desc,
                freq asc,
                period asc,
                exporter_iso3 asc,
                importer_iso3 asc,
                hs6 asc
        ) as bigint) as gap_rank
    from unexplained

)

select * from final
