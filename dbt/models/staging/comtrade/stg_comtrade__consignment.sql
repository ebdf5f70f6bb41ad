-- Comtrade rows broken down by country of consignment (partner2 <> 0): what a reporter
-- declares by origin (partner) and by the country the goods were shipped from/to
-- (partner2). It reveals transit: Austria's imports of Kazakh crude consigned from Italy.
-- Total customs procedure, transport and supply only (C00 / 0 / 0), HS6, current file
-- versions; when a later release re-delivers a key, the later release wins.
with

consignment_rows as (

    select * from {{ ref('stg_comtrade__final') }}
    where
        partner2_code <> 0
        and coalesce(customs_code, 'C00') = 'C00'
        and coalesce(mot_code, 0) = 0
        and coalesce(mos_code, 0) = 0
        and aggr_level = 6
        and is_current_file_version

),

ranked as (

    select
        *,
        row_number() over (
            partition by
                freq, period, reporter_code, flow_code, partner_code, partner2_code, cmd_code
            order by {{ latest_release_first() }}
        ) as delivery_rank
    from consignment_rows

),

final as (

    select
        freq,
        period,
        period_start,
        reporter_code,
        flow_code,
        partner_code,
        partner2_code,
        cmd_code as hs6,
        classification_code,
        primary_value_usd,
        net_weight_kg,
        file_release_date,
        source_file,
        source_row_number
    from ranked
    where delivery_rank = 1

)

select * from final
