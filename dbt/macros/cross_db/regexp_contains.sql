{#- Whether `pattern` (a SQL string literal) matches anywhere in `expr` (anchor it with ^ / $
    to match a prefix / suffix). Null stays null. DuckDB: regexp_matches; Spark: rlike. -#}
{% macro regexp_contains(expr, pattern) -%}
    {{ return(adapter.dispatch('regexp_contains')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regexp_contains(expr, pattern) -%}
    regexp_matches({{ expr }}, {{ pattern }})
{%- endmacro %}

{% macro spark__regexp_contains(expr, pattern) -%}
    ({{ expr }} rlike {{ pattern }})
{%- endmacro %}
