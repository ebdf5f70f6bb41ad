{{ config(**reporter_frequencies_config()) }}

-- What each reporter declared, per reporter × freq × period × flow (X, M): how many
-- declarations, their value, and the smallest one. It tells the innocent reasons a flow has
-- one side only apart from the suspicious ones (fct_mirror_trade):
--   * a reporter with no row at all in a freq × period has not reported it (yet): a late or
--     missing release, not a disagreement;
--   * a reporter with no row in any period of a freq does not report that frequency;
--   * a reporter whose declarations never go below some value applies a reporting threshold
--     (its smallest declaration over the 12 months to a period is that threshold's estimate,
--     fct_mirror_trade), so a partner's declaration below it finds no counterpart.
with

declarations as (

    select * from {{ ref('int_trade__declarations_preferred') }}
    where flow_code in ('X', 'M') and {{ in_build_periods() }}

),

final as (

    select
        reporter_iso3,
        freq,
        period,
        year(min(period_start)) as period_year,
        flow_code,
        count(*) as declarations,
        {{ sum_ordered('value_usd', 'partner_iso3, hs6') }} as value_usd,
        min(value_usd) filter (where value_usd > 0) as smallest_value_usd
    from declarations
    group by reporter_iso3, freq, period, flow_code

)

select * from final
