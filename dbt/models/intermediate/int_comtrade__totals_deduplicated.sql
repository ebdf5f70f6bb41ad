{{ config(**period_model_config()) }}

-- Comtrade declarations at the total level (no breakdown rows), HS6 only, from current file
-- versions, one row per key: when a later release re-delivers a key, the later release wins
-- (ties: the later load, then the later file name). `delivery_count` > 1 marks revised keys.
with

declarations as (

    select * from {{ ref('stg_comtrade__final') }}
    where
        not is_breakdown
        and aggr_level = 6
        and is_current_file_version
        and {{ in_build_periods() }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by freq, period, reporter_code, flow_code, partner_code, cmd_code
            order by {{ latest_release_first() }}
        ) as delivery_rank,
        count(*) over (
            partition by freq, period, reporter_code, flow_code, partner_code, cmd_code
        ) as delivery_count
    from declarations

),

final as (

    select
        freq,
        period,
        period_start,
        reporter_code,
        flow_code,
        partner_code,
        cmd_code as hs6,
        classification_code,
        primary_value_usd,
        cif_value_usd,
        fob_value_usd,
        net_weight_kg,
        qty,
        qty_unit_code,
        delivery_count,
        file_release_date,
        source_file,
        source_row_number
    from ranked
    where delivery_rank = 1

)

select * from final
