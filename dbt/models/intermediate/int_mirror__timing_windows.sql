-- Declarations of the same flow summed over a window around each period: +/- var
-- timing_window_months for monthly data, +/- timing_window_years for annual data. A gap that
-- closes over the window is a shipment declared in different periods by the two sides
-- (loaded in December, landed in January), not a disagreement.
with

flows as (

    select * from {{ ref('int_mirror__flows_fob') }}
    where is_country_pair

),

windowed as (

    select
        this.freq,
        this.period,
        this.exporter_iso3,
        this.importer_iso3,
        this.hs6,
        sum(other.export_value_usd order by other.period) as window_export_value_usd,
        sum(other.import_value_fob_usd order by other.period) as window_import_value_fob_usd,
        -- a shipment declared in different periods leaves gaps that cancel out (-s then +s);
        -- noise does not: |sum of gaps| / sum of |gaps| tells the two apart
        sum(
            coalesce(other.import_value_fob_usd, 0) - coalesce(other.export_value_usd, 0)
            order by other.period
        ) as window_net_gap_usd,
        sum(
            abs(coalesce(other.import_value_fob_usd, 0) - coalesce(other.export_value_usd, 0))
            order by other.period
        ) as window_gross_gap_usd,
        count(distinct other.period) as window_periods
    from flows as this
    inner join flows as other
        on
            this.freq = other.freq
            and this.exporter_iso3 = other.exporter_iso3
            and this.importer_iso3 = other.importer_iso3
            and this.hs6 = other.hs6
            and other.period_start between
            this.period_start - (
                case
                    when this.freq = 'M'
                        then to_months({{ var('timing_window_months') }})
                    else to_years({{ var('timing_window_years') }})
                end
            )
            and this.period_start + (
                case
                    when this.freq = 'M'
                        then to_months({{ var('timing_window_months') }})
                    else to_years({{ var('timing_window_years') }})
                end
            )
    group by this.freq, this.period, this.exporter_iso3, this.importer_iso3, this.hs6

),

final as (

    select
        *,
        round(abs(window_net_gap_usd) / nullif(window_gross_gap_usd, 0), 6)
            as window_cancellation_ratio,
        100 * (coalesce(window_import_value_fob_usd, 0) - coalesce(window_export_value_usd, 0))
        / nullif(
            greatest(
                coalesce(window_import_value_fob_usd, 0), coalesce(window_export_value_usd, 0)
            ),
            0
        ) as window_gap_pct
    from windowed

)

select * from final
