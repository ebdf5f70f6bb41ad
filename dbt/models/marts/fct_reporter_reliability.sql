-- Reporter reliability per reporter × period_year, BACI-style: the value-weighted mean squared
-- log discrepancy ln(import FOB / export) of every flow the reporter declared (as exporter or
-- importer), after the explanations the warehouse models (CIF/FOB margin, transit
-- attribution). Low variance = the reporter's declarations agree with its partners'. The
-- inverse variance is the weight of the reporter's side in the balanced value.
with

flows as (

    select * from {{ ref('fct_mirror_trade') }}
    where
        status in ('ok', 'explained_cif_fob', 'explained_transit', 'explained_timing', 'breach')
        and import_value_fob_usd > 0
        and coalesce(attributed_export_value_usd, export_value_usd) > 0

),

discrepancies as (

    select
        freq,
        cast(left(period, 4) as integer) as period_year,
        exporter_iso3,
        importer_iso3,
        greatest(import_value_fob_usd, coalesce(attributed_export_value_usd, export_value_usd))
            as flow_weight,
        ln(import_value_fob_usd / coalesce(attributed_export_value_usd, export_value_usd))
            as log_discrepancy
    from flows

),

by_reporter as (

    select
        exporter_iso3 as reporter_iso3,
        freq,
        period_year,
        flow_weight,
        log_discrepancy
    from discrepancies

    union all

    select
        importer_iso3 as reporter_iso3,
        freq,
        period_year,
        flow_weight,
        log_discrepancy
    from discrepancies

),

-- annual data where a reporter has it, else its monthly flows of the period_year
preferred as (

    select *
    from by_reporter
    qualify freq = min(freq) over (partition by reporter_iso3, period_year)

),

scored as (

    select
        reporter_iso3,
        period_year,
        min(freq) as based_on_freq,
        count(*) as flows,
        sum(flow_weight) as flow_value_usd,
        greatest(
            sum(flow_weight * log_discrepancy * log_discrepancy) / sum(flow_weight),
            {{ var('reliability_variance_floor') }}
        ) as discrepancy_variance,
        sum(flow_weight * abs(log_discrepancy)) / sum(flow_weight) as mean_abs_log_discrepancy
    from preferred
    group by reporter_iso3, period_year

),

final as (

    select
        reporter_iso3,
        period_year,
        based_on_freq,
        flows,
        round(flow_value_usd, 2) as flow_value_usd,
        round(discrepancy_variance, 6) as discrepancy_variance,
        round(mean_abs_log_discrepancy, 6) as mean_abs_log_discrepancy,
        round(1 / discrepancy_variance, 6) as inverse_variance_weight,
        round(
            median(discrepancy_variance) over (partition by period_year)
            / (median(discrepancy_variance) over (partition by period_year) + discrepancy_variance),
            4
        ) as reliability_score,
        'value_weighted_mean_squared_log_discrepancy' as reliability_method
    from scored

)

select * from final
