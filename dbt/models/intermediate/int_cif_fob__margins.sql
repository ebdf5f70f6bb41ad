-- The CIF/FOB margin of every exporter × importer × HS chapter that trades.
-- Method `gravity_estimate` (var cif_fob_method = 'gravity'): per HS chapter, OLS of
--   ln(import CIF / export FOB) = a + b·ln(distance) + c·contiguity
-- on annual flows both sides declared (|ln ratio| <= var cif_fob_estimation_max_abs_log_ratio,
-- so unexplained gaps do not pose as freight), then margin = exp(fit) - 1 clipped to
-- [cif_fob_margin_min, cif_fob_margin_max]. Where a chapter has fewer than
-- cif_fob_min_observations, or the pair has no CEPII distance: `fixed_factor` (cif_fob_factor).
with

paired as (

    select * from {{ ref('int_mirror__flows_paired') }}
    where is_country_pair

),

gravity as (

    select * from {{ ref('stg_reference__cepii_geodist') }}

),

observations as (

    select
        left(paired.hs6, 2) as hs_chapter,
        ln(paired.import_value_usd / paired.export_value_usd) as log_ratio,
        ln(gravity.distance_km) as log_distance,
        case when gravity.is_contiguous then 1.0 else 0.0 end as contiguity
    from paired
    inner join gravity
        on
            paired.exporter_iso3 = gravity.exporter_iso3
            and paired.importer_iso3 = gravity.importer_iso3
    where
        paired.freq = 'A'
        and paired.export_value_usd > 0
        and paired.import_value_usd > 0
        and gravity.distance_km > 0
        and abs(ln(paired.import_value_usd / paired.export_value_usd))
        <= {{ var('cif_fob_estimation_max_abs_log_ratio') }}

),

moments as (

    select
        hs_chapter,
        count(*) as observations,
        avg(log_ratio) as mean_y,
        avg(log_distance) as mean_distance,
        avg(contiguity) as mean_contiguity,
        var_pop(log_distance) as s_dd,
        var_pop(contiguity) as s_cc,
        covar_pop(log_distance, contiguity) as s_dc,
        covar_pop(log_distance, log_ratio) as s_dy,
        covar_pop(contiguity, log_ratio) as s_cy
    from observations
    group by hs_chapter

),

coefficients as (

    select
        hs_chapter,
        observations,
        mean_y,
        mean_distance,
        mean_contiguity,
        -- two regressors when both vary, one when only one does, none otherwise
        case
            when s_dd * s_cc - s_dc * s_dc > 1e-12
                then (s_cc * s_dy - s_dc * s_cy) / (s_dd * s_cc - s_dc * s_dc)
            when s_dd > 1e-12 then s_dy / s_dd
            else 0
        end as b_distance,
        case
            when s_dd * s_cc - s_dc * s_dc > 1e-12
                then (s_dd * s_cy - s_dc * s_dy) / (s_dd * s_cc - s_dc * s_dc)
            when s_dd <= 1e-12 and s_cc > 1e-12 then s_cy / s_cc
            else 0
        end as b_contiguity
    from moments

),

fitted as (

    select
        *,
        mean_y - b_distance * mean_distance - b_contiguity * mean_contiguity as intercept
    from coefficients

),

pairs as (

    select distinct
        exporter_iso3,
        importer_iso3,
        left(hs6, 2) as hs_chapter
    from paired

),

estimated as (

    select
        pairs.exporter_iso3,
        pairs.importer_iso3,
        pairs.hs_chapter,
        gravity.distance_km,
        gravity.is_contiguous,
        coalesce(fitted.observations, 0) as estimation_observations,
        '{{ var("cif_fob_method") }}' = 'gravity'
        and coalesce(fitted.observations, 0) >= {{ var('cif_fob_min_observations') }}
        and gravity.distance_km > 0 as use_estimate,
        exp(
            fitted.intercept
            + fitted.b_distance * ln(gravity.distance_km)
            + fitted.b_contiguity * (case when gravity.is_contiguous then 1.0 else 0.0 end)
        ) - 1 as fitted_margin
    from pairs
    left join gravity
        on
            pairs.exporter_iso3 = gravity.exporter_iso3
            and pairs.importer_iso3 = gravity.importer_iso3
    left join fitted on pairs.hs_chapter = fitted.hs_chapter

),

final as (

    select
        exporter_iso3,
        importer_iso3,
        hs_chapter,
        distance_km,
        is_contiguous,
        estimation_observations,
        case when use_estimate then 'gravity_estimate' else 'fixed_factor' end
            as cif_fob_method,
        round(
            case
                when use_estimate
                    then least(
                        greatest(fitted_margin, {{ var('cif_fob_margin_min') }}),
                        {{ var('cif_fob_margin_max') }}
                    )
                else cast({{ var('cif_fob_factor') }} as double) - 1
            end,
            4
        ) as cif_fob_margin
    from estimated

)

select * from final
