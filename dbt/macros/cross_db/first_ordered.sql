{#- The `expr` of the group's first row in the order of `order_by` (comma-separated
    expressions, ascending; never null here: Spark would sort nulls first, DuckDB last).
    DuckDB: first(x order by ...); Spark has no ordered aggregate: min_by on a struct. -#}
{% macro first_ordered(expr, order_by) -%}
    {{ return(adapter.dispatch('first_ordered')(expr, order_by)) }}
{%- endmacro %}

{% macro default__first_ordered(expr, order_by) -%}
    first({{ expr }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__first_ordered(expr, order_by) -%}
    min_by({{ expr }}, struct({{ order_by }}))
{%- endmacro %}
