{#- The median absolute deviation of `expr`: median(|x - median(x)|) over the group's non-null
    values (null when there are none). DuckDB has mad(); Spark cannot nest aggregates: the
    values are collected into a sorted array and both medians taken from arrays. -#}
{% macro mad(expr) -%}
    {{ return(adapter.dispatch('mad')(expr)) }}
{%- endmacro %}

{% macro default__mad(expr) -%}
    mad({{ expr }})
{%- endmacro %}

{% macro spark__mad(expr) -%}
    {%- set values = 'array_sort(collect_list(cast(' ~ expr ~ ' as double)))' -%}
    {#- zip_with, not transform: an aggregate may not appear inside a lambda -#}
    {%- set deviations -%}
        array_sort(zip_with(
            {{ values }},
            array_repeat({{ spark__sorted_array_median(values) }}, size({{ values }})),
            (value, median) -> abs(value - median)
        ))
    {%- endset -%}
    {{ spark__sorted_array_median(deviations) }}
{%- endmacro %}

{#- The median of a sorted array of doubles (the mean of the two middle values of an even
    count, as DuckDB's median): null when it is empty. -#}
{% macro spark__sorted_array_median(values) -%}
    case
        when size({{ values }}) > 0
            then
                ({{ values }}[(size({{ values }}) - 1) div 2] + {{ values }}[size({{ values }}) div 2])
                / 2
    end
{%- endmacro %}
