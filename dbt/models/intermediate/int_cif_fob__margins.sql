{{ config(**estimate_config()) }}

-- The estimated CIF/FOB margin of every exporter × importer × HS6 × year that trades (monthly
-- rows take their year's margin). docs/methodology.md §2 has the formula and the references.
--
-- Evidence, one observation per key-year (exporter × importer × HS6 × year):
--   * the importer's own CIF and FOB values of the flow: ln(CIF / FOB) (as OECD ITIC);
--   * otherwise the mirror ratio ln(M / X) of a flow both sides declared, the import CIF-valued
--     (an import declared FOB says nothing about freight).
-- A key-year is read from its annual declarations; a key-year without usable annual ones
-- (a monthly-only warehouse) from its months added up: sums over the months both sides
-- declared, so shipments that cross a month end cancel instead of posing as freight.
-- |ln ratio| > var cif_fob_estimation_max_abs_log_ratio is a gap, not freight: left out.
--
-- Model, per HS chapter c with year fixed effects (within-year OLS):
--   ln(1 + m) = a_{c,t} + b1·ln(distance) + b2·contiguity + b3·ln(unit value of the product)
-- Slopes from the variation within chapter-year cells; a_{c,t} = cell mean − slopes · means.
-- What sets the margin of a chapter-year, first that has >= var cif_fob_min_observations:
--   estimated_chapter_year  the chapter-year cell itself;
--   estimated_chapter       the chapter (its slopes and its level over its years) shifted by
--                           the year's effect measured on all chapters;
--   estimated_year          all chapters of the year (common slopes, the year's intercept);
--   fixed_factor            var cif_fob_factor − 1 (also: var cif_fob_method = 'fixed', or a
--                           pair without CEPII distance).
-- Estimated margins = exp(fit) − 1 clipped to [cif_fob_margin_min, cif_fob_margin_max].
with

paired as (

    select
        *,
        year(period_start) as period_year,
        left(hs6, 2) as hs_chapter
    from {{ ref('int_mirror__flows_paired') }}
    where is_country_pair

),

gravity as (

    select * from {{ ref('stg_reference__cepii_geodist') }}

),

-- the product's unit value (USD/kg, exporters' FOB declarations), a property of the goods
-- (BACI's regressor): median over the year's declarations, else over every year, else the
-- chapter's, else all products' median. Never the flow's own declarations: their noise
-- would be on both sides of the regression.
-- the year's median by rank, not median(): DuckDB keeps a holistic aggregate's values outside
-- its buffer manager, so at 25M declarations (12.6M flows) the median alone ran out of a 1 GB
-- cap, where a sort spills. The same double as median() (its lower middle plus half the step
-- to the upper one), bit for bit on the 5M and 25M worlds.
product_year_values as (

    select
        hs6,
        period_year,
        export_value_usd / export_net_weight_kg as unit_value,
        row_number() over (
            partition by hs6, period_year
            order by export_value_usd / export_net_weight_kg
        ) as value_rank,
        count(*) over (partition by hs6, period_year) as value_count
    from paired
    where export_value_usd > 0 and export_net_weight_kg > 0

),

product_year_middles as (

    select
        hs6,
        period_year,
        min(unit_value) filter (
            where value_rank = floor((value_count - 1) / 2) + 1
        ) as lower_middle,
        min(unit_value) filter (
            where value_rank = ceil((value_count - 1) / 2) + 1
        ) as upper_middle
    from product_year_values
    where value_rank between floor((value_count - 1) / 2) + 1 and ceil((value_count - 1) / 2) + 1
    group by hs6, period_year

),

product_year_unit_values as (

    select
        hs6,
        period_year,
        lower_middle + (upper_middle - lower_middle) * 0.5 as unit_value
    from product_year_middles

),

product_unit_values as (

    select
        hs6,
        left(hs6, 2) as hs_chapter,
        median(unit_value) as unit_value
    from product_year_unit_values
    group by hs6

),

chapter_unit_values as (

    select
        hs_chapter,
        median(unit_value) as unit_value
    from product_unit_values
    group by hs_chapter

),

keys as (

    select distinct
        exporter_iso3,
        importer_iso3,
        hs6,
        hs_chapter,
        period_year
    from paired

),

regressor_values as (

    select
        keys.*,
        gravity.distance_km,
        gravity.is_contiguous,
        case when gravity.distance_km > 0 then ln(gravity.distance_km) end as log_distance,
        -- a double: on Spark 1.0 is DECIMAL(2,1), whose avg() keeps 5 decimals, so the mean
        -- contiguity, hence every intercept, was off by up to 5e-6 and ~1 margin in 4,000
        -- rounded the other way (5M world against DuckDB, whose avg is a double)
        case when gravity.is_contiguous then cast(1 as double) else cast(0 as double) end
            as contiguity,
        coalesce(
            product_year.unit_value,
            product.unit_value,
            chapter.unit_value,
            (select median(all_products.unit_value) from product_unit_values as all_products)
        ) as unit_value
    from keys
    left join gravity
        on
            keys.exporter_iso3 = gravity.exporter_iso3
            and keys.importer_iso3 = gravity.importer_iso3
    left join product_year_unit_values as product_year
        on keys.hs6 = product_year.hs6 and keys.period_year = product_year.period_year
    left join product_unit_values as product on keys.hs6 = product.hs6
    left join chapter_unit_values as chapter on keys.hs_chapter = chapter.hs_chapter

),

regressors as (

    -- no unit value in the whole warehouse: a constant, whose slope is then 0
    select
        *,
        coalesce(ln(unit_value), 0) as log_unit_value
    from regressor_values

),

-- per key-year and frequency: the importer's CIF/FOB pair, and the mirror pair of the
-- periods both sides declared with a CIF-valued import
evidence_by_freq as (

    select
        exporter_iso3,
        importer_iso3,
        hs6,
        period_year,
        freq,
        sum(import_cif_value_usd) filter (
            where import_cif_value_usd > 0 and import_fob_value_usd > 0
        ) as reported_cif_usd,
        sum(import_fob_value_usd) filter (
            where import_cif_value_usd > 0 and import_fob_value_usd > 0
        ) as reported_fob_usd,
        sum(import_value_usd) filter (
            where import_fob_value_usd is null and import_value_usd > 0 and export_value_usd > 0
        ) as mirror_import_usd,
        sum(export_value_usd) filter (
            where import_fob_value_usd is null and import_value_usd > 0 and export_value_usd > 0
        ) as mirror_export_usd
    from paired
    group by exporter_iso3, importer_iso3, hs6, period_year, freq

),

evidence as (

    select
        exporter_iso3,
        importer_iso3,
        hs6,
        period_year,
        case
            when reported_cif_usd is not null then ln(reported_cif_usd / reported_fob_usd)
            else ln(mirror_import_usd / mirror_export_usd)
        end as log_ratio
    from evidence_by_freq
    where reported_cif_usd is not null or mirror_import_usd is not null
    -- the annual declarations when they carry evidence, else the year's months
    qualify row_number() over (
        partition by exporter_iso3, importer_iso3, hs6, period_year
        order by case freq when 'A' then 0 else 1 end
    ) = 1

),

observations as (

    select
        regressors.hs_chapter,
        regressors.period_year,
        evidence.log_ratio,
        regressors.log_distance,
        regressors.contiguity,
        regressors.log_unit_value
    from evidence
    inner join regressors
        on
            evidence.exporter_iso3 = regressors.exporter_iso3
            and evidence.importer_iso3 = regressors.importer_iso3
            and evidence.hs6 = regressors.hs6
            and evidence.period_year = regressors.period_year
    where
        regressors.log_distance is not null
        and abs(evidence.log_ratio) <= {{ var('cif_fob_estimation_max_abs_log_ratio') }}

),

-- means and centred cross-products within each chapter-year cell (Σ (x - x̄)(y - ȳ))
cells as (

    select
        hs_chapter,
        period_year,
        count(*) as n,
        avg(log_ratio) as mean_y,
        avg(log_distance) as mean_d,
        avg(contiguity) as mean_c,
        avg(log_unit_value) as mean_u,
        count(*) * var_pop(log_distance) as s_dd,
        count(*) * covar_pop(log_distance, contiguity) as s_dc,
        count(*) * covar_pop(log_distance, log_unit_value) as s_du,
        count(*) * var_pop(contiguity) as s_cc,
        count(*) * covar_pop(contiguity, log_unit_value) as s_cu,
        count(*) * var_pop(log_unit_value) as s_uu,
        count(*) * covar_pop(log_distance, log_ratio) as s_dy,
        count(*) * covar_pop(contiguity, log_ratio) as s_cy,
        count(*) * covar_pop(log_unit_value, log_ratio) as s_uy
    from observations
    group by hs_chapter, period_year

),

-- slopes of each chapter (its cells pooled) and of all chapters ('all'): within-cell variation
-- only, so year (and, for 'all', chapter) levels do not leak into the slopes
slope_moments as (

    select
        case when grouping(hs_chapter) = 1 then 'all' else hs_chapter end as slope_group,
        sum(n) as n,
        sum(s_dd) as s_dd,
        sum(s_dc) as s_dc,
        sum(s_du) as s_du,
        sum(s_cc) as s_cc,
        sum(s_cu) as s_cu,
        sum(s_uu) as s_uu,
        sum(s_dy) as s_dy,
        sum(s_cy) as s_cy,
        sum(s_uy) as s_uy
    from cells
    group by rollup(hs_chapter)

),

-- the normal equations S·b = s. A ridge of 1e-6 of each regressor's own variation (plus 1e-12)
-- keeps S invertible when a regressor does not vary (its slope is then exactly 0: all pairs
-- contiguous, one product) or two are collinear (few pairs); it moves a well-determined slope
-- by about a millionth of itself.
regularised as (

    select
        slope_group,
        n,
        s_dd * (1 + 1e-6) + 1e-12 as a_dd,
        s_dc as a_dc,
        s_du as a_du,
        s_cc * (1 + 1e-6) + 1e-12 as a_cc,
        s_cu as a_cu,
        s_uu * (1 + 1e-6) + 1e-12 as a_uu,
        s_dy,
        s_cy,
        s_uy
    from slope_moments

),

-- solved by the adjugate of the symmetric 3 × 3 matrix
cofactors as (

    select
        *,
        a_cc * a_uu - a_cu * a_cu as k_dd,
        a_du * a_cu - a_dc * a_uu as k_dc,
        a_dc * a_cu - a_du * a_cc as k_du,
        a_dd * a_uu - a_du * a_du as k_cc,
        a_dc * a_du - a_dd * a_cu as k_cu,
        a_dd * a_cc - a_dc * a_dc as k_uu
    from regularised

),

determinants as (

    select
        *,
        a_dd * k_dd + a_dc * k_dc + a_du * k_du as determinant
    from cofactors

),

slopes as (

    select
        slope_group,
        n,
        (k_dd * s_dy + k_dc * s_cy + k_du * s_uy) / determinant as b_distance,
        (k_dc * s_dy + k_cc * s_cy + k_cu * s_uy) / determinant as b_contiguity,
        (k_du * s_dy + k_cu * s_cy + k_uu * s_uy) / determinant as b_unit_value
    from determinants

),

-- intercept of every chapter-year cell with its chapter's slopes, of every year with the
-- common slopes (all chapters)
cell_intercepts as (

    select
        cells.hs_chapter,
        cells.period_year,
        cells.n,
        cells.mean_y
        - slopes.b_distance * cells.mean_d
        - slopes.b_contiguity * cells.mean_c
        - slopes.b_unit_value * cells.mean_u as intercept
    from cells
    inner join slopes on cells.hs_chapter = slopes.slope_group

),

year_intercepts as (

    select
        year_means.period_year,
        year_means.n,
        year_means.mean_y
        - slopes.b_distance * year_means.mean_d
        - slopes.b_contiguity * year_means.mean_c
        - slopes.b_unit_value * year_means.mean_u as intercept
    from (
        select
            period_year,
            sum(n) as n,
            sum(n * mean_y) / sum(n) as mean_y,
            sum(n * mean_d) / sum(n) as mean_d,
            sum(n * mean_c) / sum(n) as mean_c,
            sum(n * mean_u) / sum(n) as mean_u
        from cells
        group by period_year
    ) as year_means
    cross join slopes
    where slopes.slope_group = 'all'

),

-- a chapter's level over its years, net of the years' effects in its own mix of years:
-- mean over its cells of (cell intercept − that year's all-chapter intercept)
chapter_levels as (

    select
        cell_intercepts.hs_chapter,
        sum(cell_intercepts.n) as n,
        sum(cell_intercepts.n * (cell_intercepts.intercept - year_intercepts.intercept))
        / sum(cell_intercepts.n) as level_over_year
    from cell_intercepts
    inner join year_intercepts on cell_intercepts.period_year = year_intercepts.period_year
    group by cell_intercepts.hs_chapter

),

chapter_years as (

    select distinct
        hs_chapter,
        period_year
    from keys

),

resolved as (

    select
        chapter_years.hs_chapter,
        chapter_years.period_year,
        case
            when '{{ var("cif_fob_method") }}' <> 'gravity' then 'fixed_factor'
            when cell_fit.n >= {{ var('cif_fob_min_observations') }} then 'estimated_chapter_year'
            when
                chapter_fit.n >= {{ var('cif_fob_min_observations') }}
                and year_fit.n >= {{ var('cif_fob_min_observations') }}
                then 'estimated_chapter'
            when year_fit.n >= {{ var('cif_fob_min_observations') }} then 'estimated_year'
            else 'fixed_factor'
        end as cif_fob_method,
        cell_fit.n as chapter_year_observations,
        chapter_fit.n as chapter_observations,
        year_fit.n as year_observations,
        cell_fit.intercept as chapter_year_intercept,
        chapter_fit.level_over_year + year_fit.intercept as chapter_intercept,
        year_fit.intercept as year_intercept
    from chapter_years
    left join cell_intercepts as cell_fit
        on
            chapter_years.hs_chapter = cell_fit.hs_chapter
            and chapter_years.period_year = cell_fit.period_year
    left join chapter_levels as chapter_fit on chapter_years.hs_chapter = chapter_fit.hs_chapter
    left join year_intercepts as year_fit on chapter_years.period_year = year_fit.period_year

),

coefficients as (

    select
        resolved.hs_chapter,
        resolved.period_year,
        resolved.cif_fob_method,
        case resolved.cif_fob_method
            when 'estimated_chapter_year' then resolved.chapter_year_observations
            when 'estimated_chapter' then resolved.chapter_observations
            when 'estimated_year' then resolved.year_observations
            else 0
        end as estimation_observations,
        case resolved.cif_fob_method
            when 'estimated_chapter_year' then resolved.chapter_year_intercept
            when 'estimated_chapter' then resolved.chapter_intercept
            when 'estimated_year' then resolved.year_intercept
        end as intercept,
        slopes.b_distance,
        slopes.b_contiguity,
        slopes.b_unit_value
    from resolved
    left join slopes
        on
            slopes.slope_group
            = case
                when resolved.cif_fob_method = 'estimated_year' then 'all'
                else resolved.hs_chapter
            end

),

estimated as (

    select
        regressors.*,
        case
            when regressors.log_distance is null then 'fixed_factor'
            else coefficients.cif_fob_method
        end as cif_fob_method,
        coefficients.estimation_observations,
        exp(
            coefficients.intercept
            + coefficients.b_distance * regressors.log_distance
            + coefficients.b_contiguity * regressors.contiguity
            + coefficients.b_unit_value * regressors.log_unit_value
        ) - 1 as fitted_margin
    from regressors
    inner join coefficients
        on
            regressors.hs_chapter = coefficients.hs_chapter
            and regressors.period_year = coefficients.period_year

),

final as (

    select
        exporter_iso3,
        importer_iso3,
        hs6,
        hs_chapter,
        period_year,
        distance_km,
        is_contiguous,
        {{ round_exact('unit_value', 4) }} as product_unit_value_usd_per_kg,
        cif_fob_method,
        case when cif_fob_method = 'fixed_factor' then 0 else estimation_observations end
            as estimation_observations,
        {% call round_exact(digits=4) %}case
                when cif_fob_method = 'fixed_factor'
                    then cast({{ var('cif_fob_factor') }} as double) - 1
                else least(
                    greatest(fitted_margin, {{ var('cif_fob_margin_min') }}),
                    {{ var('cif_fob_margin_max') }}
                )
            end{% endcall %} as cif_fob_margin
    from estimated

)

select
    *,
    {{ estimate_vintage() }} as estimate_vintage
from final
{{ keep_existing_estimate() }}
