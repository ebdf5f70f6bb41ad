-- The mirror table: one row per freq × period × exporter × importer × HS6 (HS 2022). The
-- exporter's FOB declaration against the importer's CIF declaration brought to FOB, the gap,
-- and what explains it, first that applies (docs/methodology.md §3):
--   stage 1 (int_mirror__gaps): not comparable (`unallocated`, `confidential`), agreement
--   (`ok`, `explained_cif_fob`), the silent side did not report (`non_reporting_partner`,
--   `partner_not_reported`), `explained_transit`, `re_export`;
--   then `explained_classification` (int_mirror__classification: the same period's other
--   codes are stronger evidence than a window), `explained_timing` (the window agrees and no
--   reporter is noisy), `explained_unallocated`
--   (int_unallocated__allocation), a one-sided flow below the materiality floor or the silent
--   reporter's threshold (`below_threshold`); what nothing explains is a `breach` — a
--   one-sided flow above the floor included, at a gap of ±100 %.
-- Values are rounded (USD to cents, % to 4 decimals) so that a rebuild gives identical bytes:
-- floating-point sums in parallel joins are not bit-for-bit reproducible.
-- Built by trailing periods (macro trailing_model_config): a reporter's threshold is its
-- smallest declaration over the recurrence window ending with the period (var
-- recurrence_months: the 12 months to a month; a year alone), whose declarations are read.
{{ config(**trailing_model_config()) }}

{%- set months = var('recurrence_months') | int %}

with

gaps as (

    select * from {{ ref('int_mirror__gaps') }}
    where {{ in_trailing_periods() }}

),

classified as (

    select * from {{ ref('int_mirror__classification') }}
    where {{ in_trailing_periods() }}

),

allocation as (

    select * from {{ ref('int_unallocated__allocation') }}
    where {{ in_trailing_periods() }}

),

declared_periods as (

    select
        *,
        {{ period_month() }} as period_month
    from {{ ref('int_reporter__declared_periods') }}
    where {{ in_trailing_periods(back=true) }}

),

claims as (

    select
        freq,
        period,
        exporter_iso3,
        importer_iso3,
        hs6,
        {{ sum_ordered('allocated_usd', 'allocation_step') }} as unallocated_allocated_usd,
        {{ string_agg_sorted(
            "pool_kind || ':' || pool_partners || ' (HS' || hs_digits || ')'", "'; '", distinct=true
        ) }} as unallocated_sources
    from allocation
    where allocation_role = 'claim'
    group by all

),

pools as (

    select
        freq,
        period,
        exporter_iso3,
        importer_iso3,
        hs6,
        {{ sum_ordered('allocated_usd', 'allocation_step') }} as pool_allocated_usd
    from allocation
    where allocation_role = 'pool'
    group by all

),

silent_sides as (

    select distinct
        silent_reporter_iso3 as reporter_iso3,
        freq,
        period,
        {{ period_month() }} as period_month,
        silent_flow_code as flow_code
    from gaps
    where silent_reporter_iso3 is not null

),

thresholds as (

    -- the smallest declaration of a reporter's flow over the recurrence window ending with the
    -- period (a year: the year): its reporting threshold, if any
    select
        silent_sides.reporter_iso3,
        silent_sides.freq,
        silent_sides.period,
        silent_sides.flow_code,
        min(declared_periods.smallest_value_usd) as smallest_value_usd
    from silent_sides
    inner join declared_periods
        on
            silent_sides.reporter_iso3 = declared_periods.reporter_iso3
            and silent_sides.freq = declared_periods.freq
            and silent_sides.flow_code = declared_periods.flow_code
            and declared_periods.period_month
            between silent_sides.period_month - {{ months - 1 }} and silent_sides.period_month
    group by all

),

joined as (

    select
        gaps.*,
        classified.classification_level,
        classified.counterpart_hs6 as classification_counterpart_hs6,
        classified.residual_gap_usd as classification_residual_gap_usd,
        classified.combined_gap_pct as classification_combined_gap_pct,
        classified.group_gap_pct as classification_group_gap_pct,
        claims.unallocated_allocated_usd,
        claims.unallocated_sources,
        pools.pool_allocated_usd,
        thresholds.smallest_value_usd as silent_reporter_smallest_usd,
        cast(case gaps.freq
            when 'A' then {{ var('one_sided_materiality_floor_usd')['A'] }}
            else {{ var('one_sided_materiality_floor_usd')['M'] }}
        end as double) as materiality_floor_usd,
        -- the one side's value as the silent side would have declared it (CIF for an importer)
        case gaps.declared_sides
            when 'export_only' then gaps.export_value_usd * (1 + gaps.cif_fob_margin)
            when 'import_only' then gaps.import_value_fob_usd
        end as one_sided_value_as_silent_side_usd
    from gaps
    left join classified
        on
            gaps.freq = classified.freq
            and gaps.period = classified.period
            and gaps.exporter_iso3 = classified.exporter_iso3
            and gaps.importer_iso3 = classified.importer_iso3
            and gaps.hs6 = classified.hs6
    left join claims
        on
            gaps.freq = claims.freq
            and gaps.period = claims.period
            and gaps.exporter_iso3 = claims.exporter_iso3
            and gaps.importer_iso3 = claims.importer_iso3
            and gaps.hs6 = claims.hs6
    left join pools
        on
            gaps.freq = pools.freq
            and gaps.period = pools.period
            and gaps.exporter_iso3 = pools.exporter_iso3
            and gaps.importer_iso3 = pools.importer_iso3
            and gaps.hs6 = pools.hs6
    left join thresholds
        on
            gaps.silent_reporter_iso3 = thresholds.reporter_iso3
            and gaps.freq = thresholds.freq
            and gaps.period = thresholds.period
            and gaps.silent_flow_code = thresholds.flow_code

),

unallocated_gaps as (

    select
        *,
        -- the gap once the allocated value joins the side that booked it elsewhere
        coalesce(import_value_fob_usd, 0)
        + case
            when coalesce(export_value_usd, 0) > coalesce(import_value_fob_usd, 0)
                then coalesce(unallocated_allocated_usd, 0)
            else 0
        end
        - coalesce(export_value_usd, 0)
        - case
            when coalesce(export_value_usd, 0) > coalesce(import_value_fob_usd, 0) then 0
            else coalesce(unallocated_allocated_usd, 0)
        end as unallocated_residual_gap_usd,
        {% call round_exact(digits=4) %}{{ share_of_larger(
                'coalesce(import_value_fob_usd, 0) + case when coalesce(export_value_usd, 0) > coalesce(import_value_fob_usd, 0) then coalesce(unallocated_allocated_usd, 0) else 0 end',
                'coalesce(export_value_usd, 0) + case when coalesce(export_value_usd, 0) > coalesce(import_value_fob_usd, 0) then 0 else coalesce(unallocated_allocated_usd, 0) end'
            ) }}{% endcall %} as unallocated_residual_gap_pct,
        coalesce(export_value_usd, import_value_fob_usd) < materiality_floor_usd
            as is_below_floor,
        coalesce(
            one_sided_value_as_silent_side_usd
            < silent_reporter_smallest_usd * (1 + {{ var('reporting_threshold_slack') }}),
            false
        ) as is_below_reporter_threshold
    from joined

),

classified_rows as (

    select
        *,
        coalesce(
            stage_status,
            case
                when classification_level is not null then 'explained_classification'
                when is_timing_window_agreed and not is_noisy_pair then 'explained_timing'
                when
                    unallocated_allocated_usd > 0
                    and abs(unallocated_residual_gap_pct) <= tolerance_pct
                    then 'explained_unallocated'
                when declared_sides <> 'both' and (is_below_floor or is_below_reporter_threshold)
                    then 'below_threshold'
                else 'breach'
            end
        ) as status
    from unallocated_gaps

),

annotated as (

    select
        *,
        -- a window that agrees, refused because a side's reporter is noisy
        status in ('breach', 'below_threshold')
        and is_timing_window_agreed
        and is_noisy_pair as timing_rejected_noisy_reporter,
        case
            when is_exporter_noisy
                then {{ format_text(
                    "%s's declarations are noisy (MAD %.3f, %s the typical reporter's %.3f)",
                    [
                        'exporter_iso3', 'exporter_mad_log_ratio',
                        'coalesce(' ~ format_text('%.1fx', ['exporter_noise_ratio']) ~ ", 'far above')",
                        'typical_mad_log_ratio',
                    ]
                ) }}
        end as exporter_noise_note,
        case
            when is_importer_noisy
                then {{ format_text(
                    "%s's declarations are noisy (MAD %.3f, %s the typical reporter's %.3f)",
                    [
                        'importer_iso3', 'importer_mad_log_ratio',
                        'coalesce(' ~ format_text('%.1fx', ['importer_noise_ratio']) ~ ", 'far above')",
                        'typical_mad_log_ratio',
                    ]
                ) }}
        end as importer_noise_note,
        case declared_sides
            when 'export_only' then 'only the exporter declared this flow'
            when 'import_only' then 'only the importer declared this flow'
        end as one_sided_note
    from classified_rows

),

{#- why a one-sided flow below the floor is not judged (status_reason of below_threshold) -#}
{% set threshold_reason -%}
    case
        when is_below_reporter_threshold and freq = 'A'
            then {{ format_text(
                "below %s's reporting threshold (its smallest declaration of "
                ~ 'the year: %.0f USD)',
                ['silent_reporter_iso3', 'silent_reporter_smallest_usd']
            ) }}
        when is_below_reporter_threshold
            then {{ format_text(
                "below %s's reporting threshold (its smallest declaration in the "
                ~ months ~ ' months to this period: %.0f USD)',
                ['silent_reporter_iso3', 'silent_reporter_smallest_usd']
            ) }}
        else {{ format_text(
            'below the materiality floor of %.0f USD', ['materiality_floor_usd']
        ) }}
    end
{%- endset %}

final as (

    select
        freq,
        period,
        period_start,
        exporter_iso3,
        importer_iso3,
        hs6,
        hs_chapter,
        declared_sides,
        {{ round_exact('export_value_usd', 2) }} as export_value_usd,
        {{ round_exact('import_value_usd', 2) }} as import_value_usd,
        {{ round_exact('import_value_fob_usd', 2) }} as import_value_fob_usd,
        cif_fob_method,
        1 + cif_fob_margin as cif_fob_factor,
        cif_fob_margin,
        {{ round_exact('export_net_weight_kg', 3) }} as export_net_weight_kg,
        {{ round_exact('import_net_weight_kg', 3) }} as import_net_weight_kg,
        {{ round_exact('gap_usd', 2) }} as gap_usd,
        {{ round_exact('gap_pct', 4) }} as gap_pct,
        tolerance_pct,
        status,
        {% call round_exact(digits=2) %}case status
            when 'explained_transit' then transit_gap_usd
            when 'explained_timing'
                then window_import_value_fob_usd - window_export_value_usd
            when 're_export' then re_export_gap_usd
            when 'explained_classification' then classification_residual_gap_usd
            when 'explained_unallocated' then unallocated_residual_gap_usd
            when 'breach' then gap_usd
            when 'ok' then gap_usd
            when 'explained_cif_fob' then gap_usd
        end{% endcall %} as residual_gap_usd,
        {% call round_exact(digits=4) %}case status
            when 'explained_transit' then transit_gap_pct
            when 'explained_timing' then window_gap_pct
            when 're_export' then re_export_gap_pct
            when 'explained_classification' then classification_combined_gap_pct
            when 'explained_unallocated' then unallocated_residual_gap_pct
            when 'breach' then gap_pct
            when 'ok' then gap_pct
            when 'explained_cif_fob' then gap_pct
        end{% endcall %} as residual_gap_pct,
        case status
            when 'ok' then 'exact_period'
            when 'explained_cif_fob' then 'exact_period'
            when 'explained_timing' then 'within_window'
            when 'explained_transit' then 'transit_attributed'
            when 're_export' then 're_export_attributed'
            when 'explained_classification' then 'across_codes'
            when 'explained_unallocated' then 'unallocated_allocated'
            else 'none'
        end as match_kind,
        case status
            when 'ok'
                then {{ format_text(
                    'declarations agree: gap %.1f%% within tolerance %g%%',
                    ['gap_pct', 'tolerance_pct']
                ) }}
            when 'explained_cif_fob'
                then {{ format_text(
                    'CIF/FOB margin explains the gap: %.1f%% before, %.1f%% after a %.2f%% margin (%s)',
                    ['gap_before_cif_fob_pct', 'gap_pct', '100 * cif_fob_margin', 'cif_fob_method']
                ) }}
            when 'explained_transit'
                then {{ format_text(
                    'transit corridor %s (%s; %s): %s declared the goods to %s; %.1f%% of them '
                    ~ 'are attributed to %s, leaving a %.1f%% residual',
                    [
                        'corridor_id', 'corridor_route', "replace(corridor_source, '_', ' ')",
                        'exporter_iso3', 'corridor_declared_partner_iso3',
                        '100 * corridor_allocation_share', 'importer_iso3', 'transit_gap_pct',
                    ]
                ) }}
            when 're_export'
                then case
                    when re_export_declared_usd is not null
                        then {{ format_text(
                            're-exports: %s declared %.0f USD of re-exports to %s; its exports '
                            ~ "less them against %s's imports leave a %.1f%% residual",
                            [
                                'exporter_iso3', 're_export_declared_usd', 'importer_iso3', 'importer_iso3',
                                're_export_gap_pct',
                            ]
                        ) }}
                    else {{ format_text(
                        "re-exports: %.0f USD of %s's goods reached %s re-exported through %s "
                        ~ "(the hub's re-exports attributed by its imports by origin); "
                        ~ '%.1f%% residual',
                        [
                            're_export_attributed_usd', 'exporter_iso3', 'importer_iso3',
                            're_export_hub_iso3', 're_export_gap_pct',
                        ]
                    ) }}
                end
            when 'explained_timing'
                then {{ format_text(
                    'timing: over %d periods around %s the declarations agree (%.1f%%) '
                    ~ 'while this period differs by %.1f%%',
                    ['window_periods', 'period', 'window_gap_pct', 'gap_pct']
                ) }}
            when 'explained_classification'
                then {{ format_text(
                    'classification difference: the pair declared these goods under different '
                    ~ 'HS6 codes of the same %s (%s); this code differs by %.1f%%, the codes '
                    ~ 'together by %.1f%% (the %s total by %.1f%%)',
                    [
                        "case classification_level when 'hs4' then 'heading'"
                        ~ " when 'hs2' then 'chapter' else 'concordance group' end",
                        'classification_counterpart_hs6', 'gap_pct', 'classification_combined_gap_pct',
                        'classification_level', 'classification_group_gap_pct',
                    ]
                ) }}
            when 'explained_unallocated'
                then {{ format_text(
                    'unallocated trade: %.0f USD of what %s declared to no country (%s) is '
                    ~ 'allocated to this flow, leaving a %.1f%% residual (%.1f%% before)',
                    [
                        'unallocated_allocated_usd',
                        'case when coalesce(export_value_usd, 0) > coalesce(import_value_fob_usd, 0)'
                        ~ ' then importer_iso3 else exporter_iso3 end',
                        'unallocated_sources', 'unallocated_residual_gap_pct', 'gap_pct',
                    ]
                ) }}
            when 'unallocated'
                then {{ format_text(
                    'partner is not a country (areas nes, special categories or similar): '
                    ~ "never a mirror counterpart; %.1f%% of it is allocated to countries' flows",
                    [
                        '100 * coalesce(pool_allocated_usd'
                        ~ ' / nullif(coalesce(import_value_usd, export_value_usd), 0), 0)',
                    ]
                ) }}
            when 'confidential' then 'a side is a confidential declaration: not comparable'
            when 'non_reporting_partner'
                then {{ format_text(
                    '%s; %s declares no %s at this frequency in any period: mirror data is all '
                    ~ 'there is',
                    [
                        'one_sided_note', 'silent_reporter_iso3',
                        "case silent_flow_code when 'M' then 'imports' else 'exports' end",
                    ]
                ) }}
            when 'partner_not_reported'
                then {{ format_text(
                    '%s; %s declared no %s at all for %s (a late or missing release)',
                    [
                        'one_sided_note', 'silent_reporter_iso3',
                        "case silent_flow_code when 'M' then 'imports' else 'exports' end", 'period',
                    ]
                ) }}
            when 'below_threshold'
                then {{ format_text(
                    '%s (%.0f USD): %s',
                    [
                        'one_sided_note', 'coalesce(export_value_usd, import_value_fob_usd)',
                        threshold_reason,
                    ]
                ) }}
            when 'breach'
                then case
                    when declared_sides <> 'both'
                        then {{ format_text(
                            '%s (%.0f USD, above the materiality floor of %.0f USD): '
                            ~ 'nothing explains the missing side',
                            [
                                'one_sided_note', 'coalesce(export_value_usd, import_value_fob_usd)',
                                'materiality_floor_usd',
                            ]
                        ) }}
                    else {{ format_text(
                        'unexplained gap %.1f%% of the larger declaration vs tolerance %g%% '
                        ~ '(HS chapter %s)',
                        ['gap_pct', 'tolerance_pct', 'hs_chapter']
                    ) }}
                    -- a corridor on this pair that did not close the gap: what it attributed
                    -- (all of it to the declared partner when its other importers declared
                    -- none: a route whose importers do not report)
                    || case
                        when corridor_id is not null and transit_gap_pct is not null
                            then {{ format_text(
                                '; transit corridor %s (%s) does not close it: %.1f%% of what '
                                ~ '%s declared to %s is attributed to %s, leaving a %.1f%% residual',
                                [
                                    'corridor_id', "replace(corridor_source, '_', ' ')",
                                    '100 * corridor_allocation_share', 'exporter_iso3',
                                    'corridor_declared_partner_iso3', 'importer_iso3',
                                    'transit_gap_pct',
                                ]
                            ) }}
                        else ''
                    end
                end
        end
        || case
            when timing_rejected_noisy_reporter
                then {{ format_text(
                    '; the timing window would agree (%.1f%%) but %s: '
                    ~ 'gaps cancelling over a window is then likely chance, not timing',
                    ['window_gap_pct', "concat_ws(' and ', exporter_noise_note, importer_noise_note)"]
                ) }}
            else ''
        end as status_reason,
        timing_rejected_noisy_reporter,
        corridor_id,
        corridor_source,
        corridor_declared_partner_iso3,
        {{ round_exact('corridor_allocation_share', 8) }} as corridor_allocation_share,
        corridor_share_source,
        {{ round_exact('attributed_export_value_usd', 2) }} as attributed_export_value_usd,
        {{ round_exact('re_export_declared_usd', 2) }} as re_export_declared_usd,
        {{ round_exact('re_export_attributed_usd', 2) }} as re_export_attributed_usd,
        re_export_hub_iso3,
        classification_level,
        classification_counterpart_hs6,
        {{ round_exact('classification_group_gap_pct', 4) }} as classification_group_gap_pct,
        {{ round_exact('unallocated_allocated_usd', 2) }} as unallocated_allocated_usd,
        unallocated_sources,
        {% call round_exact(digits=8) %}
            pool_allocated_usd / nullif(coalesce(import_value_usd, export_value_usd), 0)
        {% endcall %} as unallocated_allocated_share,
        {{ round_exact('window_export_value_usd', 2) }} as window_export_value_usd,
        {{ round_exact('window_import_value_fob_usd', 2) }} as window_import_value_fob_usd,
        {{ round_exact('window_gap_pct', 4) }} as window_gap_pct,
        {{ round_exact('export_unit_value_usd_per_kg', 6) }} as export_unit_value_usd_per_kg,
        {{ round_exact('import_unit_value_usd_per_kg', 6) }} as import_unit_value_usd_per_kg,
        {{ round_exact('weight_ratio', 6) }} as weight_ratio,
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
        is_revised,
        estimate_vintage
    from annotated

)

select * from final
