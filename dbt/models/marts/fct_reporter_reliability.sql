-- Reporter reliability per reporter × year × role (as exporter, as importer), BACI-style
-- (Gaulier & Zignago 2010; the Harvard Growth Lab reconciler also scores the roles apart):
-- the value-weighted mean squared log discrepancy of every flow the reporter declared in that
-- role (or failed to declare, for a one-sided breach) after the explanations the warehouse
-- models, ln(importer side / exporter side) read off the row's residual gap (CIF/FOB margin,
-- transit attribution, re-exports, timing window, classification, unallocated trade). A
-- one-sided breach is a residual of ±100 %: its log ratio is capped at var
-- reliability_max_abs_log_ratio. Flows that are not a disagreement (a partner that did not
-- report the period or does not report, a flow below the threshold, a non-country partner)
-- do not count. Low variance = the reporter's declarations agree with its partners'; the
-- inverse variance weighs that side in fct_reconciled_trade's balanced value.
-- An estimate (macro estimate_config), like the margins and the reporter noise: the scores are
-- computed from every year of history when the estimates are refreshed, stamped with their
-- `estimate_vintage`, and kept as they are by the builds in between. A score is relative to the
-- year's median reporter, so one reporter's delivery moves every score of its year, and with
-- it every balanced value of the year: rebuilt per delivery, a revised reporter-year would
-- rewrite the whole year of fct_reconciled_trade. Kept per vintage, a delivery rebuilds only
-- the periods it touches, and the balanced values of a year the vintage has no score for use
-- the reporter's nearest scored year (fct_reconciled_trade).
{{ config(**estimate_config()) }}

with

flows as (

    select * from {{ ref('fct_mirror_trade') }}
    where residual_gap_pct is not null

),

discrepancies as (

    select
        freq,
        cast(left(period, 4) as integer) as period_year,
        exporter_iso3,
        importer_iso3,
        greatest(
            coalesce(import_value_fob_usd, 0),
            coalesce(attributed_export_value_usd, export_value_usd, 0)
        ) as flow_weight,
        -- residual_gap_pct = 100 (M − X) / max(M, X)  ⇒  ln(M / X), capped
        sign(residual_gap_pct) * least(
            -ln(greatest(1 - abs(residual_gap_pct) / 100, 1e-300)),
            {{ var('reliability_max_abs_log_ratio') }}
        ) as log_discrepancy
    from flows

),

by_role as (

    select
        exporter_iso3 as reporter_iso3,
        'exporter' as reporter_role,
        freq,
        period_year,
        flow_weight,
        log_discrepancy
    from discrepancies

    union all

    select
        importer_iso3 as reporter_iso3,
        'importer' as reporter_role,
        freq,
        period_year,
        flow_weight,
        log_discrepancy
    from discrepancies

),

-- annual data where a reporter has it in that role, else its monthly flows of the year
preferred as (

    select *
    from by_role
    where flow_weight > 0
    qualify freq = min(freq) over (partition by reporter_iso3, reporter_role, period_year)

),

scored as (

    select
        reporter_iso3,
        reporter_role,
        period_year,
        min(freq) as based_on_freq,
        count(*) as flows,
        {%- set in_order = 'log_discrepancy, flow_weight' %}
        {{ sum_ordered('flow_weight', in_order) }} as flow_value_usd,
        greatest(
            {{ sum_ordered('flow_weight * log_discrepancy * log_discrepancy', in_order) }}
            / {{ sum_ordered('flow_weight', in_order) }},
            {{ var('reliability_variance_floor') }}
        ) as discrepancy_variance,
        {{ sum_ordered('flow_weight * abs(log_discrepancy)', in_order) }}
        / {{ sum_ordered('flow_weight', in_order) }} as mean_abs_log_discrepancy
    from preferred
    group by reporter_iso3, reporter_role, period_year

),

final as (

    select
        reporter_iso3,
        reporter_role,
        period_year,
        based_on_freq,
        flows,
        {{ round_exact('flow_value_usd', 2) }} as flow_value_usd,
        {{ round_exact('discrepancy_variance', 6) }} as discrepancy_variance,
        {{ round_exact('mean_abs_log_discrepancy', 6) }} as mean_abs_log_discrepancy,
        {{ round_exact('1 / discrepancy_variance', 6) }} as inverse_variance_weight,
        -- 0.5 = the median reporter of the role and year; rounded, a very reliable (or
        -- unreliable) reporter reads 1.0 (0.0): the score lies in the closed interval
        {% call round_exact(digits=4) %}
            median(discrepancy_variance) over (partition by reporter_role, period_year)
            / (
                median(discrepancy_variance) over (partition by reporter_role, period_year)
                + discrepancy_variance
            )
        {% endcall %} as reliability_score,
        'value_weighted_mean_squared_log_discrepancy_by_role' as reliability_method
    from scored

)

select
    *,
    {{ estimate_vintage() }} as estimate_vintage
from final
{{ keep_existing_estimate() }}
