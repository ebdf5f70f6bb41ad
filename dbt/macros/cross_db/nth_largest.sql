{#- The n-th largest non-null value of `expr` in the group (null when the group has fewer than
    n non-null values), n a literal integer: a cut-off that keeps a group's top n rows, ties
    included, without sorting the group. DuckDB: max(x, n) keeps the n largest per group;
    Spark: the sorted list of the group's values. -#}
{% macro nth_largest(expr, n) -%}
    {{ return(adapter.dispatch('nth_largest')(expr, n)) }}
{%- endmacro %}

{% macro default__nth_largest(expr, n) -%}
    list_extract(max({{ expr }}, {{ n | int }}), {{ n | int }})
{%- endmacro %}

{% macro spark__nth_largest(expr, n) -%}
    try_element_at(sort_array(collect_list({{ expr }}), false), {{ n | int }})
{%- endmacro %}
