-- The series of the report's declared-vs-mirror charts: what the exporter declared to each
-- importer against what the importer declared, period by period. One chart per transit
-- corridor (its origin, product and importers, annual), the largest first; then, up to var
-- report_max_charts, the exporter x product flows whose gaps as declared are the largest
-- (the statuses compared as they stand: agreement, the CIF/FOB margin, breaches), each with
-- its var report_chart_importers importers of the largest gaps, at the finest frequency the
-- data has annual rows for ('A' before 'M').
with

flows as (

    select * from {{ ref('fct_mirror_trade') }}

),

corridor_flows as (

    select
        corridor_id,
        exporter_iso3,
        hs6,
        importer_iso3,
        abs(gap_usd) as gap_usd
    from flows
    where corridor_id is not null and freq = 'A'

),

corridor_charts as (

    select
        'corridor' as chart_kind,
        corridor_id,
        'A' as freq,
        exporter_iso3,
        hs6,
        sum(gap_usd) as subject_gap_usd,
        row_number() over (
            order by sum(gap_usd) desc, exporter_iso3 asc, hs6 asc, corridor_id asc
        ) as subject_rank
    from corridor_flows
    group by corridor_id, exporter_iso3, hs6
    qualify subject_rank <= {{ var('report_max_charts') }}

),

corridor_importers as (

    select distinct
        corridor_charts.subject_rank,
        corridor_flows.importer_iso3
    from corridor_charts
    inner join corridor_flows
        on
            corridor_charts.corridor_id = corridor_flows.corridor_id
            and corridor_charts.exporter_iso3 = corridor_flows.exporter_iso3
            and corridor_charts.hs6 = corridor_flows.hs6

),

-- gaps judged as declared: matched in the exact period (ok, explained_cif_fob) or a gap
-- nothing explains (breach); explained and not compared flows are not the declarations' gaps
judged_gaps as (

    select
        freq,
        exporter_iso3,
        hs6,
        importer_iso3,
        sum(abs(gap_usd)) as gap_usd
    from flows
    where
        (match_kind = 'exact_period' or abs(residual_gap_pct) > tolerance_pct)
        and freq = (select min(all_flows.freq) from flows as all_flows)
    group by freq, exporter_iso3, hs6, importer_iso3

),

corridor_chart_count as (

    select count(*) as charts from corridor_charts

),

gap_charts as (

    select
        'largest_gaps' as chart_kind,
        cast(null as {{ dbt.type_string() }}) as corridor_id,
        judged_gaps.freq,
        judged_gaps.exporter_iso3,
        judged_gaps.hs6,
        sum(judged_gaps.gap_usd) as subject_gap_usd,
        -- numbered after the corridor charts
        any_value(corridor_chart_count.charts)
        + row_number() over (
            order by
                sum(judged_gaps.gap_usd) desc,
                judged_gaps.exporter_iso3 asc,
                judged_gaps.hs6 asc
        ) as subject_rank
    from judged_gaps
    cross join corridor_chart_count
    -- a flow a corridor chart already shows is not drawn twice
    anti join corridor_charts
        on
            judged_gaps.exporter_iso3 = corridor_charts.exporter_iso3
            and judged_gaps.hs6 = corridor_charts.hs6
    group by judged_gaps.freq, judged_gaps.exporter_iso3, judged_gaps.hs6
    qualify subject_rank <= {{ var('report_max_charts') }}

),

gap_importers as (

    select
        gap_charts.subject_rank,
        judged_gaps.importer_iso3
    from gap_charts
    inner join judged_gaps
        on
            gap_charts.freq = judged_gaps.freq
            and gap_charts.exporter_iso3 = judged_gaps.exporter_iso3
            and gap_charts.hs6 = judged_gaps.hs6
    qualify row_number() over (
        partition by gap_charts.subject_rank
        order by judged_gaps.gap_usd desc, judged_gaps.importer_iso3 asc
    ) <= {{ var('report_chart_importers') }}

),

charts as (

    select * from corridor_charts
    union all
    select * from gap_charts

),

chart_importers as (

    select * from corridor_importers
    union all
    select * from gap_importers

),

final as (

    select
        charts.subject_rank as chart_rank,
        charts.chart_kind,
        charts.corridor_id,
        charts.freq,
        charts.exporter_iso3,
        charts.hs6,
        charts.subject_gap_usd,
        flows.period,
        flows.importer_iso3,
        sum(flows.export_value_usd) as export_value_usd,
        sum(flows.import_value_fob_usd) as import_value_fob_usd
    from charts
    inner join chart_importers on charts.subject_rank = chart_importers.subject_rank
    inner join flows
        on
            charts.freq = flows.freq
            and charts.exporter_iso3 = flows.exporter_iso3
            and charts.hs6 = flows.hs6
            and chart_importers.importer_iso3 = flows.importer_iso3
    group by
        charts.subject_rank,
        charts.chart_kind,
        charts.corridor_id,
        charts.freq,
        charts.exporter_iso3,
        charts.hs6,
        charts.subject_gap_usd,
        flows.period,
        flows.importer_iso3

)

select * from final
