{{ config(**window_model_config()) }}
-- Built by window periods (macro window_model_config): a period's rows read that period and
-- its timing window only, so a new month rebuilds its window's periods, not their years.

-- Every mirror flow with its gap and the explanations that can be read off the flow itself
-- or its own evidence (stage 1 of the status; fct_mirror_trade finishes it):
--   not comparable: a side names a non-country partner (`unallocated`) or is confidential;
--   agreement: `ok`, `explained_cif_fob` (within tolerance once the CIF/FOB margin is off);
--   reporting facts for a flow only one side declared: the silent side's reporter declared
--   nothing at all that period (`partner_not_reported`) or never declares at this frequency
--   (`non_reporting_partner`), int_reporter__declared_periods;
--   explanations: `explained_transit` (int_transit__allocation), `re_export`
--   (int_reexport__attribution).
-- What is left (`stage_status` null) is judged by fct_mirror_trade with the explanations that
-- weigh several flows against each other: classification (int_mirror__classification, the
-- same period's other codes: evidence stronger than a window), timing (whether the window
-- agrees is computed here: `is_timing_window_agreed`, refused for a noisy reporter:
-- int_reporter__noise), unallocated trade (int_unallocated__allocation), then the materiality
-- floor and the silent reporter's threshold; the rest is a breach.
-- One-sided flows carry a gap of ±100 % (the missing side counts as zero for the gap only;
-- the missing value stays null).
with

flows as (

    select * from {{ ref('int_mirror__flows_fob') }}
    where {{ in_window_periods() }}

),

windows as (

    select * from {{ ref('int_mirror__timing_windows') }}
    where {{ in_window_periods() }}

),

transit as (

    select * from {{ ref('int_transit__allocation') }}
    where {{ in_window_periods() }}

),

re_exports as (

    select * from {{ ref('int_reexport__attribution') }}
    where {{ in_window_periods() }}

),

noise as (

    select * from {{ ref('int_reporter__noise') }}

),

declared_periods as (

    select * from {{ ref('int_reporter__declared_periods') }}

),

reporting as (

    -- per reporter × freq × flow: does it declare this frequency at all (in any year: a
    -- build by window periods rebuilds every period when this changes, macro window_periods)
    select distinct
        reporter_iso3,
        freq,
        flow_code
    from declared_periods

),

joined as (

    select
        flows.*,
        {{ chapter_tolerance_pct('flows.hs_chapter') }} as tolerance_pct,
        case
            when flows.export_value_usd is not null and flows.import_value_usd is not null
                then 'both'
            when flows.import_value_usd is null then 'export_only'
            else 'import_only'
        end as declared_sides,
        transit.corridor_id,
        transit.corridor_source,
        transit.route as corridor_route,
        transit.declared_partner_iso3 as corridor_declared_partner_iso3,
        transit.allocation_share as corridor_allocation_share,
        transit.share_source as corridor_share_source,
        transit.attributed_export_value_usd,
        re_exports.re_export_declared_usd,
        re_exports.re_export_attributed_usd,
        re_exports.re_export_hub_iso3,
        windows.window_export_value_usd,
        windows.window_import_value_fob_usd,
        windows.window_periods,
        {{ round_exact('windows.window_gap_pct', 4) }} as window_gap_pct,
        windows.window_cancellation_ratio,
        coalesce(exporter_noise.is_noisy, false) as is_exporter_noisy,
        exporter_noise.mad_log_ratio as exporter_mad_log_ratio,
        exporter_noise.noise_ratio as exporter_noise_ratio,
        coalesce(importer_noise.is_noisy, false) as is_importer_noisy,
        importer_noise.mad_log_ratio as importer_mad_log_ratio,
        importer_noise.noise_ratio as importer_noise_ratio,
        coalesce(exporter_noise.typical_mad_log_ratio, importer_noise.typical_mad_log_ratio)
            as typical_mad_log_ratio
    from flows
    left join transit
        on
            flows.freq = transit.freq
            and flows.period = transit.period
            and flows.hs6 = transit.hs6
            and flows.exporter_iso3 = transit.origin_iso3
            and flows.importer_iso3 = transit.attributed_importer_iso3
    left join re_exports
        on
            flows.freq = re_exports.freq
            and flows.period = re_exports.period
            and flows.hs6 = re_exports.hs6
            and flows.exporter_iso3 = re_exports.exporter_iso3
            and flows.importer_iso3 = re_exports.importer_iso3
    left join windows
        on
            flows.freq = windows.freq
            and flows.period = windows.period
            and flows.exporter_iso3 = windows.exporter_iso3
            and flows.importer_iso3 = windows.importer_iso3
            and flows.hs6 = windows.hs6
    left join noise as exporter_noise
        on
            flows.freq = exporter_noise.freq
            and year(flows.period_start) = exporter_noise.period_year
            and flows.exporter_iso3 = exporter_noise.reporter_iso3
    left join noise as importer_noise
        on
            flows.freq = importer_noise.freq
            and year(flows.period_start) = importer_noise.period_year
            and flows.importer_iso3 = importer_noise.reporter_iso3

),

silent_side as (

    -- for a one-sided flow: who did not declare it, and what that reporter declared otherwise
    select
        joined.*,
        case joined.declared_sides
            when 'export_only' then joined.importer_iso3
            when 'import_only' then joined.exporter_iso3
        end as silent_reporter_iso3,
        case joined.declared_sides when 'export_only' then 'M' when 'import_only' then 'X' end
            as silent_flow_code
    from joined

),

with_reporting as (

    select
        silent_side.*,
        reporting.reporter_iso3 is not null as is_silent_reporter_reporting_freq,
        coalesce(declared_periods.declarations, 0) as silent_reporter_declarations_in_period
    from silent_side
    left join reporting
        on
            silent_side.silent_reporter_iso3 = reporting.reporter_iso3
            and silent_side.freq = reporting.freq
            and silent_side.silent_flow_code = reporting.flow_code
    left join declared_periods
        on
            silent_side.silent_reporter_iso3 = declared_periods.reporter_iso3
            and silent_side.freq = declared_periods.freq
            and silent_side.period = declared_periods.period
            and silent_side.silent_flow_code = declared_periods.flow_code

),

gaps as (

    select
        *,
        -- a missing side counts as zero in the gap (±100 %), never in the values
        coalesce(import_value_fob_usd, 0) - coalesce(export_value_usd, 0) as gap_usd,
        -- percentages are rounded BEFORE the status is decided, so the published value and
        -- the status always agree (a 10.00003 % gap is not a breach that reads as 10.0 %)
        -- (two declarations of zero, or one of zero, agree: a gap of 0, never null)
        coalesce(
            {{ round_exact(
                share_of_larger('coalesce(import_value_fob_usd, 0)', 'coalesce(export_value_usd, 0)'), 4
            ) }},
            0
        ) as gap_pct,
        coalesce(
            {{ round_exact(
                share_of_larger('coalesce(import_value_usd, 0)', 'coalesce(export_value_usd, 0)'), 4
            ) }},
            0
        ) as gap_before_cif_fob_pct,
        -- in a corridor a silent side declared nothing: zero, so a declared partner that
        -- imported nothing itself, with everything attributed onwards, agrees
        coalesce(import_value_fob_usd, 0) - attributed_export_value_usd as transit_gap_usd,
        case
            when coalesce(import_value_fob_usd, 0) = 0 and attributed_export_value_usd = 0
                then 0
            else {{ round_exact(
                share_of_larger('coalesce(import_value_fob_usd, 0)', 'attributed_export_value_usd'), 4
            ) }}
        end as transit_gap_pct,
        -- re-exports: the hub's X less its declared re-exports, the origin's X plus the
        -- re-exports attributed to it, against the importer's declaration (to the cent: a hub
        -- whose exports to j are all re-exports leaves 0, not a float residue)
        {% call round_exact(digits=2) %}coalesce(export_value_usd, 0) - coalesce(re_export_declared_usd, 0)
            + coalesce(re_export_attributed_usd, 0){% endcall %} as re_export_adjusted_export_usd,
        export_value_usd / nullif(export_net_weight_kg, 0) as export_unit_value_usd_per_kg,
        import_value_fob_usd / nullif(import_net_weight_kg, 0) as import_unit_value_usd_per_kg,
        import_net_weight_kg / nullif(export_net_weight_kg, 0) as weight_ratio
    from with_reporting

),

judged as (

    select
        *,
        coalesce(import_value_fob_usd, 0) - re_export_adjusted_export_usd as re_export_gap_usd,
        -- a hub that exports j only what it re-exports, and j declaring nothing from the hub,
        -- agree: 0, not undefined
        case
            when coalesce(import_value_fob_usd, 0) = 0 and re_export_adjusted_export_usd = 0
                then 0
            else {{ round_exact(
                share_of_larger('coalesce(import_value_fob_usd, 0)', 're_export_adjusted_export_usd'), 4
            ) }}
        end as re_export_gap_pct,
        -- the window sums agree and the periods' gaps cancel (int_mirror__timing_windows)
        coalesce(
            window_periods >= 2
            and abs(window_gap_pct) <= tolerance_pct
            and window_cancellation_ratio <= {{ var('timing_max_cancellation_ratio') }},
            false
        ) as is_timing_window_agreed,
        -- ... which is evidence only when both reporters are otherwise consistent: gaps of a
        -- noisy reporter (int_reporter__noise) cancel over a window by chance
        is_exporter_noisy or is_importer_noisy as is_noisy_pair
    from gaps

),

final as (

    select
        *,
        case
            when not is_country_pair then 'unallocated'
            -- HS chapter 99 is not HS: "commodities not specified according to kind", where
            -- reporters put confidential trade (int_unallocated__allocation pools it)
            when is_confidential or left(hs6, 2) = '99' then 'confidential'
            when abs(gap_pct) <= tolerance_pct and abs(gap_before_cif_fob_pct) <= tolerance_pct
                then 'ok'
            when abs(gap_pct) <= tolerance_pct then 'explained_cif_fob'
            when declared_sides <> 'both' and not is_silent_reporter_reporting_freq
                then 'non_reporting_partner'
            when declared_sides <> 'both' and silent_reporter_declarations_in_period = 0
                then 'partner_not_reported'
            when corridor_id is not null and abs(transit_gap_pct) <= tolerance_pct
                then 'explained_transit'
            when
                (re_export_declared_usd is not null or re_export_attributed_usd is not null)
                and abs(re_export_gap_pct) <= tolerance_pct
                then 're_export'
        end as stage_status
    from judged

)

select * from final  -- noqa: AM04
