-- Classification differences (IMTS 2010 §§ on asymmetries): the two sides declared the same
-- goods under different HS6 codes. Per pair × freq × period, a flow still unexplained after
-- stage 1 (int_mirror__gaps, `stage_status` null: beyond tolerance or one-sided) is matched
-- with a counterpart code of the same group whose gap runs the other way:
--   levels, first that matches: the same HS4 heading, the same HS2 chapter, codes the HS
--   concordance links (a delivered code split over several HS 2022 codes);
--   pairwise: the counterpart b (any flow of the pair and group that no other mechanism
--   explains: unexplained, ok or explained_cif_fob) absorbs the flow's gap (macro
--   counterpart_absorbs_gap: d = M_fob − X with a missing side as zero; |d_a + d_b| within
--   a's tolerance, plus the noise b's own size allows when b's gap is at least half of a's;
--   and the two codes together within tolerance), AND the coarser total agrees: the group's
--   d summed over all its flows within tolerance of its larger side;
--   several codes at once: the group's unexplained flows have gaps of both signs whose sum is
--   within tolerance of their larger side.
-- Refused for a noisy reporter (int_reporter__noise): offsetting gaps across codes are then
-- likely chance. One row per explained flow with the level, the counterpart and the residual.
with

gaps as (

    select * from {{ ref('int_mirror__gaps') }}
    where is_country_pair and not is_confidential

),

concordance as (

    select * from {{ ref('int_hs__concordance_to_hs2022') }}

),

related_codes as (

    -- HS 2022 codes one delivered code (of any edition) was split over
    select distinct
        left_side.hs6_2022 as hs6,
        right_side.hs6_2022 as related_hs6
    from concordance as left_side
    inner join concordance as right_side
        on
            left_side.hs_year = right_side.hs_year
            and left_side.hs6_from = right_side.hs6_from
            and left_side.hs6_2022 <> right_side.hs6_2022
    where left_side.is_split

),

flows as (

    select
        freq,
        period,
        exporter_iso3,
        importer_iso3,
        hs6,
        tolerance_pct,
        stage_status,
        is_noisy_pair,
        coalesce(export_value_usd, 0) as x,
        coalesce(import_value_fob_usd, 0) as m,
        coalesce(import_value_fob_usd, 0) - coalesce(export_value_usd, 0) as d,
        -- the pair's own noise, as a robust sigma of ln(M/X) (MAD × 1.4826): what a large
        -- counterpart's gap may wander by without any misclassification
        1.4826 * coalesce(
            greatest(exporter_mad_log_ratio, importer_mad_log_ratio),
            typical_mad_log_ratio,
            {{ var('classification_default_noise_mad') }}
        ) as pair_sigma
    from gaps
    -- flows another mechanism explains are not material for a classification difference
    where stage_status is null or stage_status in ('ok', 'explained_cif_fob')

),

candidates as (

    select * from flows
    where stage_status is null and not is_noisy_pair

),

{%- set levels = [('hs4', 4), ('hs2', 2)] %}
{%- for level, digits in levels %}

    group_totals_{{ level }} as (

        select
            freq,
            period,
            exporter_iso3,
            importer_iso3,
            left(hs6, {{ digits }}) as code_group,
            {{ sum_ordered('x', 'hs6') }} as group_x,
            {{ sum_ordered('m', 'hs6') }} as group_m,
            {{ sum_ordered('d', 'hs6') }} as group_d
        from flows
        group by all

    ),

    pairwise_{{ level }} as (

        select
            candidates.freq,
            candidates.period,
            candidates.exporter_iso3,
            candidates.importer_iso3,
            candidates.hs6,
            '{{ level }}' as classification_level,
            counterpart.hs6 as counterpart_hs6,
            candidates.d + counterpart.d as residual_gap_usd,
            {{ share_of_larger('candidates.m + counterpart.m', 'candidates.x + counterpart.x') }}
                as combined_gap_pct,
            totals.group_d,
            {{ share_of_larger('totals.group_m', 'totals.group_x') }} as group_gap_pct
        from candidates
        inner join flows as counterpart
            on
                candidates.freq = counterpart.freq
                and candidates.period = counterpart.period
                and candidates.exporter_iso3 = counterpart.exporter_iso3
                and candidates.importer_iso3 = counterpart.importer_iso3
                and left(candidates.hs6, {{ digits }}) = left(counterpart.hs6, {{ digits }})
                and candidates.hs6 <> counterpart.hs6
                and sign(candidates.d) = -sign(counterpart.d)
        inner join group_totals_{{ level }} as totals
            on
                candidates.freq = totals.freq
                and candidates.period = totals.period
                and candidates.exporter_iso3 = totals.exporter_iso3
                and candidates.importer_iso3 = totals.importer_iso3
                and left(candidates.hs6, {{ digits }}) = totals.code_group
        where
            {{ counterpart_absorbs_gap('candidates', 'counterpart') }}
            and abs(totals.group_d)
            <= candidates.tolerance_pct / 100 * greatest(totals.group_x, totals.group_m)
        qualify row_number() over (
            partition by
                candidates.freq,
                candidates.period,
                candidates.exporter_iso3,
                candidates.importer_iso3,
                candidates.hs6
            order by abs(candidates.d + counterpart.d), counterpart.hs6
        ) = 1

    ),

    several_{{ level }} as (

    -- several codes at once: the group's unexplained flows offset each other
        select
            candidates.freq,
            candidates.period,
            candidates.exporter_iso3,
            candidates.importer_iso3,
            candidates.hs6,
            '{{ level }}' as classification_level,
            {{ string_agg_sorted('candidates.hs6', "','", over='group_window') }}
                as counterpart_hs6,
            sum(candidates.d) over group_window as residual_gap_usd,
        {{ share_of_larger(
            'sum(candidates.m) over group_window',
            'sum(candidates.x) over group_window'
        ) }} as combined_gap_pct,
            sum(candidates.d) over group_window as group_d,
        {{ share_of_larger(
            'sum(candidates.m) over group_window',
            'sum(candidates.x) over group_window'
        ) }} as group_gap_pct,
            min(candidates.d) over group_window < 0
            and max(candidates.d) over group_window > 0
            and abs(sum(candidates.d) over group_window)
            <= min(candidates.tolerance_pct) over group_window / 100 * greatest(
                sum(candidates.x) over group_window, sum(candidates.m) over group_window
            ) as is_offsetting
        from candidates
        window
            group_window as (
                partition by
                    candidates.freq,
                    candidates.period,
                    candidates.exporter_iso3,
                    candidates.importer_iso3,
                    left(candidates.hs6, {{ digits }})
            )

    ),
{%- endfor %}

concordance_pairs as (

    select
        candidates.freq,
        candidates.period,
        candidates.exporter_iso3,
        candidates.importer_iso3,
        candidates.hs6,
        'concordance' as classification_level,
        counterpart.hs6 as counterpart_hs6,
        candidates.d + counterpart.d as residual_gap_usd,
        {{ share_of_larger('candidates.m + counterpart.m', 'candidates.x + counterpart.x') }}
            as combined_gap_pct,
        candidates.d + counterpart.d as group_d,
        {{ share_of_larger('candidates.m + counterpart.m', 'candidates.x + counterpart.x') }}
            as group_gap_pct
    from candidates
    inner join related_codes on candidates.hs6 = related_codes.hs6
    inner join flows as counterpart
        on
            candidates.freq = counterpart.freq
            and candidates.period = counterpart.period
            and candidates.exporter_iso3 = counterpart.exporter_iso3
            and candidates.importer_iso3 = counterpart.importer_iso3
            and related_codes.related_hs6 = counterpart.hs6
            and sign(candidates.d) = -sign(counterpart.d)
    where
        {{ counterpart_absorbs_gap('candidates', 'counterpart') }}
    qualify row_number() over (
        partition by
            candidates.freq,
            candidates.period,
            candidates.exporter_iso3,
            candidates.importer_iso3,
            candidates.hs6
        order by abs(candidates.d + counterpart.d), counterpart.hs6
    ) = 1

),

matches as (

    {%- for level, digits in levels %}
        select
            *,
            {{ loop.index * 2 - 1 }} as level_rank
        from pairwise_{{ level }}
        union all
        select
            -- every column but is_offsetting
            freq,
            period,
            exporter_iso3,
            importer_iso3,
            hs6,
            classification_level,
            counterpart_hs6,
            residual_gap_usd,
            combined_gap_pct,
            group_d,
            group_gap_pct,
            {{ loop.index * 2 }} as level_rank
        from several_{{ level }}
        where is_offsetting
        union all
    {%- endfor %}
    select
        *,
        9 as level_rank
    from concordance_pairs

),

final as (

    select
        freq,
        period,
        exporter_iso3,
        importer_iso3,
        hs6,
        classification_level,
        counterpart_hs6,
        residual_gap_usd,
        combined_gap_pct,
        group_gap_pct
    from matches
    qualify row_number() over (
        partition by freq, period, exporter_iso3, importer_iso3, hs6
        order by level_rank
    ) = 1

)

select * from final
