-- The largest flows of each status (var report_findings_per_status of them) with the reason
-- the mart gives: the report's findings. Every status is here; the report shows those whose
-- class (expectations/statuses.yml) is not plain agreement.
with

flows as (

    select
        status,
        freq,
        period,
        exporter_iso3,
        importer_iso3,
        hs6,
        export_value_usd,
        import_value_fob_usd,
        gap_pct,
        status_reason,
        -- row_number is an int on Spark, a bigint on DuckDB: the contract's bigint on both
        cast(row_number() over (
            partition by status
            order by
                freq = 'A' desc,
                greatest(export_value_usd, import_value_fob_usd) desc nulls last,
                period asc,
                exporter_iso3 asc,
                importer_iso3 asc,
                hs6 asc
        ) as bigint) as finding_rank
    from {{ ref('fct_mirror_trade') }}

),

final as (

    select * from flows
    where finding_rank <= {{ var('report_findings_per_status') }}

)

select * from final
