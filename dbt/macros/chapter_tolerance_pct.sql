{#- The tolerance of an HS chapter (dbt/seeds/mirror_tolerances.csv, one row per chapter),
    else the project's default: one definition for every model that judges a gap, so the
    gap, transit and re-export models can never disagree on what "within tolerance" means. -#}
{% macro chapter_tolerance_pct(hs_chapter) -%}
    coalesce(
        (
            select chapter_tolerances.tolerance_pct
            from {{ ref('mirror_tolerances') }} as chapter_tolerances
            where chapter_tolerances.hs_chapter = {{ hs_chapter }}
        ),
        {{ var('default_tolerance_pct') }}
    )
{%- endmacro %}
