{{ config(**period_model_config()) }}

-- The paired flows with the importer's value brought to FOB: the common input of the gap,
-- timing and transit models. Best evidence first:
--   reported_fob   the importer's declaration carries a FOB value (an importer that values
--                  imports FOB, or one that reports CIF and FOB): that value, nothing deflated;
--                  the margin is what the declaration implies (0 for a FOB-only import);
--   otherwise      the estimated margin of the pair × HS6 × year (int_cif_fob__margins, its
--                  method: estimated_chapter_year, estimated_chapter, estimated_year or
--                  fixed_factor); monthly rows take their year's margin.
-- Comext imports are CIF (EU rules) and always take the estimated margin.
with

paired as (

    select * from {{ ref('int_mirror__flows_paired') }}
    where {{ in_build_periods() }}

),

margins as (

    select * from {{ ref('int_cif_fob__margins') }}

),

{#- the three inputs of the valuation, each written once -#}
{%- set is_fob_reported -%}
    coalesce(paired.import_fob_value_usd > 0 and paired.import_value_usd > 0, false)
{%- endset %}
{%- set estimated_method = "coalesce(margins.cif_fob_method, 'fixed_factor')" %}
{%- set estimated_margin -%}
    coalesce(margins.cif_fob_margin, {{ round_exact(
        'cast(' ~ var('cif_fob_factor') ~ ' as double) - 1', 4
    ) }})
{%- endset %}

final as (

    select
        paired.*,  -- noqa: AM04
        left(paired.hs6, 2) as hs_chapter,
        -- every row used the margins as a whole (a key without one takes the fixed factor)
        (select min(all_margins.estimate_vintage) from margins as all_margins)
            as estimate_vintage,
        case when {{ is_fob_reported }} then 'reported_fob' else {{ estimated_method }} end
            as cif_fob_method,
        case
            -- not rounded: import_value_fob_usd × (1 + margin) must give back the declared
            -- value to the cent, whatever its size (fct_mirror_trade tests it)
            when {{ is_fob_reported }}
                then paired.import_value_usd / paired.import_fob_value_usd - 1
            else {{ estimated_margin }}
        end as cif_fob_margin,
        case
            when {{ is_fob_reported }} then paired.import_fob_value_usd
            else paired.import_value_usd / (1 + {{ estimated_margin }})
        end as import_value_fob_usd
    from paired
    left join margins
        on
            paired.exporter_iso3 = margins.exporter_iso3
            and paired.importer_iso3 = margins.importer_iso3
            and paired.hs6 = margins.hs6
            and year(paired.period_start) = margins.period_year

)

select * from final  -- noqa: AM04
