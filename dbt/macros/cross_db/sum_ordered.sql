{#- sum(`expr`) adding the values in the order of `order_by` (comma-separated columns): a
    float sum that does not depend on how the rows were read (DuckDB: sum(x order by y)).
    Spark has no ordered aggregate: the values are collected, sorted and added in turn.
    Null when every value is null, as sum. The order columns are never null here (Spark
    would sort nulls first, DuckDB last). -#}
{% macro sum_ordered(expr, order_by) -%}
    {{ return(adapter.dispatch('sum_ordered')(expr, order_by)) }}
{%- endmacro %}

{% macro default__sum_ordered(expr, order_by) -%}
    sum({{ expr }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__sum_ordered(expr, order_by) -%}
    aggregate(
        array_sort(collect_list(struct({{ order_by }}, cast({{ expr }} as double) as value))),
        cast(null as double),
        (total, element) -> coalesce(total + element.value, total, element.value)
    )
{%- endmacro %}
