{#- The non-null values of `expr` as one string, sorted (by `order_by` when given, else by
    the value), joined with `delimiter` (a SQL string literal); null when there are none.
    `distinct`, `filter` (a condition) and `over` (a window: its name or `(...)`) as in SQL.
    dbt.listagg is not enough: on Spark it cannot sort, nor take distinct or a window.
    Spark collects an array, sorts it and joins it. -#}
{% macro string_agg_sorted(expr, delimiter, distinct=false, order_by=none, filter=none, over=none) -%}
    {{ return(adapter.dispatch('string_agg_sorted')(expr, delimiter, distinct, order_by, filter, over)) }}
{%- endmacro %}

{% macro default__string_agg_sorted(expr, delimiter, distinct, order_by, filter, over) -%}
    string_agg({{ 'distinct ' if distinct }}{{ expr }}, {{ delimiter }} order by {{ order_by or expr }})
    {%- if filter %} filter (where {{ filter }}){% endif %}
    {%- if over %} over {{ over }}{% endif %}
{%- endmacro %}

{% macro spark__string_agg_sorted(expr, delimiter, distinct, order_by, filter, over) -%}
    {%- set tail -%}
        {%- if filter %} filter (where {{ filter }}){% endif %}
        {%- if over %} over {{ over }}{% endif %}
    {%- endset -%}
    {%- if order_by -%}
        {%- set values -%}
            transform(
                array_sort(filter(
                    collect_{{ 'set' if distinct else 'list' }}(
                        struct({{ order_by }}, {{ expr }} as value)
                    ){{ tail }},
                    element -> element.value is not null
                )),
                element -> element.value
            )
        {%- endset -%}
    {%- else -%}
        {%- set values -%}
            array_sort(collect_{{ 'set' if distinct else 'list' }}({{ expr }}){{ tail }})
        {%- endset -%}
    {%- endif -%}
    case when size({{ values }}) > 0 then array_join({{ values }}, {{ delimiter }}) end
{%- endmacro %}
