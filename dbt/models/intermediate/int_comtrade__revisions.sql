{{ config(**period_model_config()) }}

-- Every delivery of every total-level Comtrade key, in release order, with the value it
-- replaced: the revision history behind int_comtrade__totals_deduplicated. Deliveries from
-- superseded file versions are kept as history but never become current.
with

deliveries as (

    select * from {{ ref('stg_comtrade__final') }}
    where
        not is_breakdown
        and aggr_level = 6
        and {{ in_build_periods() }}

),

ordered as (

    select
        freq,
        period,
        reporter_code,
        flow_code,
        partner_code,
        cmd_code as hs6,
        primary_value_usd,
        net_weight_kg,
        file_release_date,
        loaded_at,
        source_file,
        source_row_number,
        is_current_file_version,
        row_number() over (
            partition by freq, period, reporter_code, flow_code, partner_code, cmd_code
            order by
                is_current_file_version asc,
                file_release_date asc nulls first,
                loaded_at asc,
                source_file asc,
                source_row_number asc
        ) as revision_number,
        count(*) over (
            partition by freq, period, reporter_code, flow_code, partner_code, cmd_code
        ) as deliveries
    from deliveries

),

final as (

    select
        *,
        lag(primary_value_usd) over (
            partition by freq, period, reporter_code, flow_code, partner_code, hs6
            order by revision_number
        ) as previous_value_usd,
        coalesce(file_release_date, cast(loaded_at as date)) as valid_from,
        lead(coalesce(file_release_date, cast(loaded_at as date))) over (
            partition by freq, period, reporter_code, flow_code, partner_code, hs6
            order by revision_number
        ) as valid_to,
        is_current_file_version and revision_number = deliveries as is_current
    from ordered

)

select * from final
