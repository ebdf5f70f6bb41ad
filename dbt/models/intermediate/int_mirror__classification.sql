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
--   d summed over all its flows within tolerance of its larger side, each other flow net of
--   what another cause the declarations show explains (stage 2 decides it after this model):
--   a timing window that agrees (`is_timing_window_agreed`, not a noisy pair) leaves the
--   total; a flow short on the side whose reporter booked the same HS6 to a nes area that
--   period counts that pool, up to its shortfall; so an unrelated gap of the heading that
--   month does not spoil the pair's total;
--   several codes at once: the group's unexplained flows have gaps of both signs whose sum is
--   within tolerance of their larger side.
-- Not a classification difference, nor anyone's counterpart: an unexplained flow whose short
-- side's reporter booked to a nes area, in the same HS6 that period, at least the sum of the
-- unexplained shortfalls of all its flows there (the pool explains them, stage 2). Without
-- it a chance offset in a chapter of many codes took 10 of 222 nes/confidential keys of a
-- synthetic world (seed 44); a pool covering only this flow's shortfall was too loose (a
-- reporter's pool holds all its partners' claims: 7 of 10 worlds lost classification keys).
-- Refused for a noisy reporter (int_reporter__noise): offsetting gaps across codes are then
-- likely chance. A classification practice recurs, a chance offset does not (a monthly pair
-- has 12 draws a year, each with monthly noise, for two unrelated gaps to meet): the same
-- counterpart (code, or set of codes) must offset the flow in at least half of the periods
-- in which the flow is unexplained, of its trailing recurrence window (var recurrence_months:
-- the 12 months ending with the period; an annual flow: its one period), so that a period is
-- judged by its past and a new month does not rewrite the months before it;
-- and in a set each flow must bring the set's sum closer to zero (a small gap of the same
-- sign as the set's residual does not ride on a large offsetting pair).
-- One row per explained flow with the level, the counterpart and the residual.
-- Built by trailing periods (macro trailing_model_config): the gaps of the recurrence windows
-- of the periods rebuilt are read (`back`), the rows of those periods only are written.
{{ config(**trailing_model_config()) }}

{#- the periods a recurrence window reaches back, as months (a year is 12: an annual flow's
    window is its own period) -#}
{%- set reach = (var('recurrence_months') | int) - 1 %}

with

gaps as (

    select * from {{ ref('int_mirror__gaps') }}
    where is_country_pair and not is_confidential and {{ in_trailing_periods(back=true) }}

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

pools as (

    -- what each reporter booked to a non-country partner (an "Areas, nes" pool), per HS6:
    -- an importer's imports from it, an exporter's exports to it
    select
        freq,
        period,
        importer_iso3 as reporter_iso3,
        'M' as flow_code,
        hs6,
        sum(import_value_fob_usd) as pool_usd
    from {{ ref('int_mirror__gaps') }}
    where
        not is_country_pair and import_value_fob_usd is not null
        and {{ in_trailing_periods(back=true) }}
    group by freq, period, importer_iso3, hs6
    union all
    select
        freq,
        period,
        exporter_iso3 as reporter_iso3,
        'X' as flow_code,
        hs6,
        sum(export_value_usd) as pool_usd
    from {{ ref('int_mirror__gaps') }}
    where
        not is_country_pair and export_value_usd is not null
        and {{ in_trailing_periods(back=true) }}
    group by freq, period, exporter_iso3, hs6

),

flows_material as (

    select
        freq,
        period,
        {{ period_month() }} as period_month,
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
        ) as pair_sigma,
        -- another cause the declarations already show for this flow's gap (stage 2 decides
        -- it after classification): a timing window that agrees, or the silent side's
        -- reporter booking the same HS6 to a nes area that period
        stage_status is null and not is_noisy_pair and is_timing_window_agreed
            as is_timing_explained
    from gaps
    -- flows another mechanism explains are not material for a classification difference
    where stage_status is null or stage_status in ('ok', 'explained_cif_fob')

),

flows_all as (

    -- the unexplained shortfalls of a reporter's flows of one HS6 that period, on each side:
    -- what its nes pool must cover to explain them all (summed in partner order, so that a
    -- pool equal to the sum compares the same way in every build)
    select
        *,
        sum(case when stage_status is null and d > 0 then d end) over (
            partition by freq, period, exporter_iso3, hs6
            order by importer_iso3 rows between unbounded preceding and unbounded following
        ) as exporter_shortfall_usd,
        sum(case when stage_status is null and d < 0 then -d end) over (
            partition by freq, period, importer_iso3, hs6
            order by exporter_iso3 rows between unbounded preceding and unbounded following
        ) as importer_shortfall_usd
    from flows_material

),

flows as (

    -- x_group, m_group: the flow's sides as they count in its group's total, net of what
    -- another cause explains, so that an unrelated gap of the heading that month (a flow
    -- booked to a nes area, a timing lag) does not spoil the total of a classification pair
    select
        flows_all.*,
        case
            when flows_all.is_timing_explained then 0
            when
                flows_all.stage_status is null and not flows_all.is_noisy_pair
                and flows_all.d > 0 and exporter_pools.pool_usd > 0
                then flows_all.x + least(flows_all.d, exporter_pools.pool_usd)
            else flows_all.x
        end as x_group,
        case
            when flows_all.is_timing_explained then 0
            when
                flows_all.stage_status is null and not flows_all.is_noisy_pair
                and flows_all.d < 0 and importer_pools.pool_usd > 0
                then flows_all.m + least(-flows_all.d, importer_pools.pool_usd)
            else flows_all.m
        end as m_group,
        -- the short side's reporter booked at least every unexplained shortfall of its flows
        -- in this HS6 that period to a nes area: the pool explains the gap (stage 2), not
        -- another code of the pair (a pool shared with other partners' claims does not)
        coalesce(
            flows_all.stage_status is null
            and (
                (flows_all.d > 0 and exporter_pools.pool_usd >= flows_all.exporter_shortfall_usd)
                or (flows_all.d < 0 and importer_pools.pool_usd >= flows_all.importer_shortfall_usd)
            ),
            false
        ) as is_pool_explained
    from flows_all
    left join pools as exporter_pools
        on
            flows_all.freq = exporter_pools.freq
            and flows_all.period = exporter_pools.period
            and flows_all.exporter_iso3 = exporter_pools.reporter_iso3
            and flows_all.hs6 = exporter_pools.hs6
            and exporter_pools.flow_code = 'X'
    left join pools as importer_pools
        on
            flows_all.freq = importer_pools.freq
            and flows_all.period = importer_pools.period
            and flows_all.importer_iso3 = importer_pools.reporter_iso3
            and flows_all.hs6 = importer_pools.hs6
            and importer_pools.flow_code = 'M'

),

candidates as (

    select
        *,
        -- the periods of the recurrence window in which the flow is unexplained
        count(*) over (
            partition by freq, exporter_iso3, importer_iso3, hs6
            order by period_month range between {{ reach }} preceding and current row
        ) as candidate_periods
    from flows
    where stage_status is null and not is_noisy_pair and not is_pool_explained

),

counterparts as (

    -- a flow whose gap a nes pool explains absorbs no other code's gap
    select * from flows
    where not is_pool_explained

),

{%- set levels = [('hs4', 4), ('hs2', 2)] %}
{#- a match, as the pair and the several-codes rules each give it (one list, two CTEs) -#}
{%- set match_columns = [
    'freq', 'period', 'exporter_iso3', 'importer_iso3', 'hs6', 'classification_level',
    'counterpart_hs6', 'residual_gap_usd', 'combined_gap_pct', 'group_d', 'group_gap_pct',
] %}
{%- for level, digits in levels %}

    group_totals_{{ level }} as (

        -- of the groups that hold a candidate only (what pairs_ joins them to): a whole group
        -- or none, so the same sums, at a third of the cost (most groups have no candidate)
        select
            freq,
            period,
            exporter_iso3,
            importer_iso3,
            left(hs6, {{ digits }}) as code_group,
            {{ sum_ordered('x_group', 'hs6') }} as group_x,
            {{ sum_ordered('m_group', 'hs6') }} as group_m
        from flows
        where
            exists (
                select 1 from candidates
                where
                    candidates.freq = flows.freq
                    and candidates.period = flows.period
                    and candidates.exporter_iso3 = flows.exporter_iso3
                    and candidates.importer_iso3 = flows.importer_iso3
                    and left(candidates.hs6, {{ digits }}) = left(flows.hs6, {{ digits }})
            )
        group by all

    ),

    {#- the group's total with the pair itself at its declared values #}
    {%- set pair_x = '(totals.group_x - candidates.x_group - counterpart.x_group'
        ~ ' + candidates.x + counterpart.x)' %}
    {%- set pair_m = '(totals.group_m - candidates.m_group - counterpart.m_group'
        ~ ' + candidates.m + counterpart.m)' %}

    pairs_{{ level }} as (

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
            {{ pair_m }} - {{ pair_x }} as group_d,
            {{ share_of_larger(pair_m, pair_x) }} as group_gap_pct,
            abs({{ pair_m }} - {{ pair_x }})
            <= candidates.tolerance_pct / 100 * greatest({{ pair_x }}, {{ pair_m }})
                as is_group_agreed,
            candidates.candidate_periods,
            -- the periods of the recurrence window in which this counterpart absorbs the gap
            count(*) over (
                partition by
                    candidates.freq,
                    candidates.exporter_iso3,
                    candidates.importer_iso3,
                    candidates.hs6,
                    counterpart.hs6
                order by candidates.period_month
                range between {{ reach }} preceding and current row
            ) as matched_periods
        from candidates
        inner join counterparts as counterpart
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

    ),

    pairwise_{{ level }} as (

        select
            {{ match_columns | join(',\n            ') }}
        from pairs_{{ level }}
        -- a practice: the same counterpart in at least half of the flow's unexplained periods
        where is_group_agreed and 2 * matched_periods >= candidate_periods
        qualify row_number() over (
            partition by freq, period, exporter_iso3, importer_iso3, hs6
            order by abs(residual_gap_usd), counterpart_hs6
        ) = 1

    ),

    several_groups_{{ level }} as (

        -- the group's unexplained flows, summed in code order: the same doubles in every build
        select
            freq,
            period,
            exporter_iso3,
            importer_iso3,
            left(hs6, {{ digits }}) as code_group,
            {{ string_agg_sorted('hs6', "','") }} as counterpart_hs6,
            {{ sum_ordered('d', 'hs6') }} as group_d,
            {{ sum_ordered('x', 'hs6') }} as group_x,
            {{ sum_ordered('m', 'hs6') }} as group_m,
            min(d) as smallest_d,
            max(d) as largest_d,
            min(tolerance_pct) as group_tolerance_pct
        from candidates
        group by all

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
            code_groups.counterpart_hs6,
            code_groups.group_d as residual_gap_usd,
            {{ share_of_larger('code_groups.group_m', 'code_groups.group_x') }} as combined_gap_pct,
            code_groups.group_d,
            {{ share_of_larger('code_groups.group_m', 'code_groups.group_x') }} as group_gap_pct,
            code_groups.smallest_d < 0
            and code_groups.largest_d > 0
            and abs(code_groups.group_d)
            <= code_groups.group_tolerance_pct / 100 * greatest(code_groups.group_x, code_groups.group_m)
            -- this flow is needed: without it the set would be further from zero
            and abs(code_groups.group_d) < abs(code_groups.group_d - candidates.d) as is_offsetting,
            candidates.candidate_periods,
            candidates.period_month
        from candidates
        inner join several_groups_{{ level }} as code_groups
            on
                candidates.freq = code_groups.freq
                and candidates.period = code_groups.period
                and candidates.exporter_iso3 = code_groups.exporter_iso3
                and candidates.importer_iso3 = code_groups.importer_iso3
                and left(candidates.hs6, {{ digits }}) = code_groups.code_group

    ),

    several_recurring_{{ level }} as (

        select
            {{ match_columns | join(',\n            ') }}
        from several_{{ level }}
        where is_offsetting
        -- a practice: the same set of codes in at least half of the flow's unexplained periods
        qualify 2 * count(*) over (
            partition by freq, exporter_iso3, importer_iso3, hs6, counterpart_hs6
            order by period_month range between {{ reach }} preceding and current row
        ) >= candidate_periods

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
    inner join counterparts as counterpart
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
            *,
            {{ loop.index * 2 }} as level_rank
        from several_recurring_{{ level }}
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
    -- the periods rebuilt (the windows before them were read only)
    where {{ in_trailing_periods() }}
    qualify row_number() over (
        partition by freq, period, exporter_iso3, importer_iso3, hs6
        order by level_rank
    ) = 1

)

select * from final
