{#- Whether string `expr` begins with string `prefix` (null when either is null). DuckDB
    spells it starts_with, Spark startswith. -#}
{% macro starts_with(expr, prefix) -%}
    {{ return(adapter.dispatch('starts_with')(expr, prefix)) }}
{%- endmacro %}

{% macro default__starts_with(expr, prefix) -%}
    starts_with({{ expr }}, {{ prefix }})
{%- endmacro %}

{% macro spark__starts_with(expr, prefix) -%}
    startswith({{ expr }}, {{ prefix }})
{%- endmacro %}
