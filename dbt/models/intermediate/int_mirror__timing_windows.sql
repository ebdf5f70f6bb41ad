-- Declarations of the same flow summed over a window around each period: +/- var
-- timing_window_months for monthly data, +/- timing_window_years for annual data. A gap that
-- closes over the window is a shipment declared in different periods by the two sides
-- (loaded in December, landed in January), not a disagreement.
-- Built by window periods (macro window_model_config): the periods whose window reaches a
-- build period, reading the periods their windows reach; which frequencies reporters declare
-- does not matter to it.
{{ config(**window_model_config(frequencies_matter=false)) }}

with

flows as (

    select * from {{ ref('int_mirror__flows_fob') }}
    where is_country_pair and {{ in_window_periods(widen=1, frequencies_matter=false) }}

),

-- one pass per frequency: a RANGE window over each flow's own periods (the key is unique per
-- period, so the frame's row count is the number of periods in the window)
{%- set frames = [
    ('M', "interval " ~ (var('timing_window_months') | int) ~ " month"),
    ('A', "interval " ~ (var('timing_window_years') | int) ~ " year"),
] %}

windowed as (

    {%- for freq, width in frames %}

        select
            freq,
            period,
            exporter_iso3,
            importer_iso3,
            hs6,
            sum(export_value_usd) over flow_window as window_export_value_usd,
            sum(import_value_fob_usd) over flow_window as window_import_value_fob_usd,
            -- a shipment declared in different periods leaves gaps that cancel out (-s then
            -- +s); noise does not: |sum of gaps| / sum of |gaps| tells the two apart
            sum(coalesce(import_value_fob_usd, 0) - coalesce(export_value_usd, 0))
                over flow_window as window_net_gap_usd,
            sum(abs(coalesce(import_value_fob_usd, 0) - coalesce(export_value_usd, 0)))
                over flow_window as window_gross_gap_usd,
            count(*) over flow_window as window_periods
        from flows
        where freq = '{{ freq }}'
        window
            flow_window as (
                partition by exporter_iso3, importer_iso3, hs6
                order by period_start
                range between {{ width }} preceding and {{ width }} following
            )
        {%- if not loop.last %}

            union all
        {%- endif %}
    {%- endfor %}

),

final as (

    select
        *,
        {{ round_exact('abs(window_net_gap_usd) / nullif(window_gross_gap_usd, 0)', 6) }}
            as window_cancellation_ratio,
        100 * (coalesce(window_import_value_fob_usd, 0) - coalesce(window_export_value_usd, 0))
        / nullif(
            greatest(
                coalesce(window_import_value_fob_usd, 0), coalesce(window_export_value_usd, 0)
            ),
            0
        ) as window_gap_pct
    from windowed
    where {{ in_window_periods(frequencies_matter=false) }}

)

select * from final
