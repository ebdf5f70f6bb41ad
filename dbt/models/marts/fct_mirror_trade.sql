-- The mirror table: one row per freq × period × exporter × importer × HS6 (HS 2022). The
-- exporter's FOB declaration against the importer's CIF declaration brought to FOB, the gap,
-- and what explains it: CIF/FOB margin, a transit corridor (declared partner vs attributed
-- importer), shipping time across period ends (unless a side's reporter is noisy:
-- int_reporter__noise); what nothing explains is a `breach`.
-- Values are rounded (USD to cents, % to 4 decimals) so that a rebuild gives identical bytes:
-- floating-point sums in parallel joins are not bit-for-bit reproducible.
with

flows as (

    select * from {{ ref('int_mirror__flows_fob') }}

),

tolerances as (

    select * from {{ ref('mirror_tolerances') }}

),

windows as (

    select * from {{ ref('int_mirror__timing_windows') }}

),

transit as (

    select * from {{ ref('int_transit__allocation') }}

),

noise as (

    select * from {{ ref('int_reporter__noise') }}

),

joined as (

    select
        flows.*,
        coalesce(tolerances.tolerance_pct, {{ var('default_tolerance_pct') }}) as tolerance_pct,
        transit.corridor_id,
        transit.route as corridor_route,
        transit.declared_partner_iso3 as corridor_declared_partner_iso3,
        transit.allocation_share as corridor_allocation_share,
        transit.share_source as corridor_share_source,
        transit.attributed_export_value_usd,
        windows.window_export_value_usd,
        windows.window_import_value_fob_usd,
        windows.window_periods,
        round(windows.window_gap_pct, 4) as window_gap_pct,
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
    left join tolerances on flows.hs_chapter = tolerances.hs_chapter
    left join transit
        on
            flows.freq = transit.freq
            and flows.period = transit.period
            and flows.hs6 = transit.hs6
            and flows.exporter_iso3 = transit.origin_iso3
            and flows.importer_iso3 = transit.attributed_importer_iso3
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

gaps as (

    select
        *,
        import_value_fob_usd - export_value_usd as gap_usd,
        -- percentages are rounded BEFORE the status is decided, so the published value and
        -- the status always agree (a 10.00003 % gap is not a breach that reads as 10.0 %)
        round({{ share_of_larger('import_value_fob_usd', 'export_value_usd') }}, 4) as gap_pct,
        round({{ share_of_larger('import_value_usd', 'export_value_usd') }}, 4)
            as gap_before_cif_fob_pct,
        -- in a corridor a silent side declared nothing: zero, so a declared partner that
        -- imported nothing itself, with everything attributed onwards, agrees
        coalesce(import_value_fob_usd, 0) - attributed_export_value_usd as transit_gap_usd,
        case
            when coalesce(import_value_fob_usd, 0) = 0 and attributed_export_value_usd = 0
                then 0
            else round(
                {{ share_of_larger('coalesce(import_value_fob_usd, 0)', 'attributed_export_value_usd') }},
                4
            )
        end as transit_gap_pct,
        export_value_usd / nullif(export_net_weight_kg, 0) as export_unit_value_usd_per_kg,
        import_value_fob_usd / nullif(import_net_weight_kg, 0) as import_unit_value_usd_per_kg,
        import_net_weight_kg / nullif(export_net_weight_kg, 0) as weight_ratio
    from joined

),

timing as (

    select
        *,
        -- the window sums agree and the periods' gaps cancel (int_mirror__timing_windows)
        coalesce(
            window_periods >= 2
            and abs(window_gap_pct) <= tolerance_pct
            and window_cancellation_ratio <= {{ var('timing_max_cancellation_ratio') }},
            false
        ) as is_timing_window_agreed,
        -- ... which is evidence only when both reporters are otherwise consistent: gaps of a
        -- noisy reporter (int_reporter__noise) cancel over a window by chance
        is_exporter_noisy or is_importer_noisy as is_noisy_pair,
        case
            when is_exporter_noisy
                then printf(
                    '%s''s declarations are noisy (MAD %.3f, %s the typical reporter''s %.3f)',
                    exporter_iso3, exporter_mad_log_ratio,
                    coalesce(printf('%.1fx', exporter_noise_ratio), 'far above'),
                    typical_mad_log_ratio
                )
        end as exporter_noise_note,
        case
            when is_importer_noisy
                then printf(
                    '%s''s declarations are noisy (MAD %.3f, %s the typical reporter''s %.3f)',
                    importer_iso3, importer_mad_log_ratio,
                    coalesce(printf('%.1fx', importer_noise_ratio), 'far above'),
                    typical_mad_log_ratio
                )
        end as importer_noise_note
    from gaps

),

classified as (

    select
        *,
        case
            when not is_country_pair then 'unallocated'
            when is_confidential then 'confidential'
            when abs(gap_pct) <= tolerance_pct and abs(gap_before_cif_fob_pct) <= tolerance_pct
                then 'ok'
            when abs(gap_pct) <= tolerance_pct then 'explained_cif_fob'
            when corridor_id is not null and abs(transit_gap_pct) <= tolerance_pct
                then 'explained_transit'
            when is_timing_window_agreed and not is_noisy_pair then 'explained_timing'
            when export_value_usd is null then 'import_only'
            when import_value_usd is null then 'export_only'
            else 'breach'
        end as status
    from timing

),

rejected as (

    select
        *,
        -- a window that agrees, refused because a side's reporter is noisy
        status in ('breach', 'import_only', 'export_only')
        and is_timing_window_agreed
        and is_noisy_pair as timing_rejected_noisy_reporter
    from classified

),

final as (

    select
        freq,
        period,
        period_start,
        exporter_iso3,
        importer_iso3,
        hs6,
        hs_chapter,
        round(export_value_usd, 2) as export_value_usd,
        round(import_value_usd, 2) as import_value_usd,
        round(import_value_fob_usd, 2) as import_value_fob_usd,
        cif_fob_method,
        1 + cif_fob_margin as cif_fob_factor,
        cif_fob_margin,
        round(export_net_weight_kg, 3) as export_net_weight_kg,
        round(import_net_weight_kg, 3) as import_net_weight_kg,
        round(gap_usd, 2) as gap_usd,
        round(gap_pct, 4) as gap_pct,
        tolerance_pct,
        status,
        round(case status
            when 'explained_transit' then transit_gap_usd
            when 'explained_timing'
                then window_import_value_fob_usd - window_export_value_usd
            when 'import_only' then null
            when 'export_only' then null
            when 'unallocated' then null
            when 'confidential' then null
            else gap_usd
        end, 2) as residual_gap_usd,
        round(case status
            when 'explained_transit' then transit_gap_pct
            when 'explained_timing' then window_gap_pct
            when 'import_only' then null
            when 'export_only' then null
            when 'unallocated' then null
            when 'confidential' then null
            else gap_pct
        end, 4) as residual_gap_pct,
        case
            when status in ('ok', 'explained_cif_fob') then 'exact_period'
            when status = 'explained_timing' then 'within_window'
            when status = 'explained_transit' then 'transit_attributed'
            else 'none'
        end as match_kind,
        case status
            when 'ok'
                then printf(
                    'declarations agree: gap %.1f%% within tolerance %g%%', gap_pct, tolerance_pct
                )
            when 'explained_cif_fob'
                then printf(
                    'CIF/FOB margin explains the gap: %.1f%% before, %.1f%% after a %.2f%% margin (%s)',
                    gap_before_cif_fob_pct, gap_pct, 100 * cif_fob_margin, cif_fob_method
                )
            when 'explained_transit'
                then printf(
                    'transit corridor %s (%s): %s declared the goods to %s; %.1f%% of them are '
                    || 'attributed to %s, leaving a %.1f%% residual',
                    corridor_id, corridor_route, exporter_iso3, corridor_declared_partner_iso3,
                    100 * corridor_allocation_share, importer_iso3, transit_gap_pct
                )
            when 'explained_timing'
                then printf(
                    'timing: over %d periods around %s the declarations agree (%.1f%%) '
                    || 'while this period differs by %s',
                    window_periods, period, window_gap_pct,
                    coalesce(printf('%.1f%%', gap_pct), 'a missing side')
                )
            when 'import_only' then 'only the importer declared this flow'
            when 'export_only' then 'only the exporter declared this flow'
            when 'unallocated'
                then
                    'partner is not a country (areas nes, group or similar): never a mirror counterpart'
            when 'confidential' then 'a side is a confidential declaration: not comparable'
            else printf(
                'unexplained gap %.1f%% of the larger declaration vs tolerance %g%% (HS chapter %s)',
                gap_pct, tolerance_pct, hs_chapter
            )
        end
        || case
            when timing_rejected_noisy_reporter
                then printf(
                    '; the timing window would agree (%.1f%%) but %s: '
                    || 'gaps cancelling over a window is then likely chance, not timing',
                    window_gap_pct, concat_ws(' and ', exporter_noise_note, importer_noise_note)
                )
            else ''
        end as status_reason,
        timing_rejected_noisy_reporter,
        corridor_id,
        corridor_declared_partner_iso3,
        round(corridor_allocation_share, 8) as corridor_allocation_share,
        corridor_share_source,
        round(attributed_export_value_usd, 2) as attributed_export_value_usd,
        round(window_export_value_usd, 2) as window_export_value_usd,
        round(window_import_value_fob_usd, 2) as window_import_value_fob_usd,
        round(window_gap_pct, 4) as window_gap_pct,
        round(export_unit_value_usd_per_kg, 6) as export_unit_value_usd_per_kg,
        round(import_unit_value_usd_per_kg, 6) as import_unit_value_usd_per_kg,
        round(weight_ratio, 6) as weight_ratio,
        case
            when weight_ratio is null then 'no_weight_to_compare'
            when
                weight_ratio between 900 and 1111
                or weight_ratio between 0.0009 and 0.00111
                then 'likely_unit_error_x1000'
            when
                import_unit_value_usd_per_kg / nullif(export_unit_value_usd_per_kg, 0)
                not between 1.0 / {{ var('unit_value_outlier_ratio') }}
                and {{ var('unit_value_outlier_ratio') }}
                then 'unit_value_outlier'
            else 'consistent'
        end as quantity_flag,
        export_source,
        import_source,
        is_revised
    from rejected

)

select * from final
