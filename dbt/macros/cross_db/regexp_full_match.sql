{#- Whether the whole of `expr` matches `pattern` (a SQL string literal; the regular
    expression syntax both engines share: classes, counts, alternation). Null stays null.
    DuckDB has regexp_full_match; Spark only rlike, a match anywhere: anchored there. -#}
{% macro regexp_full_match(expr, pattern) -%}
    {{ return(adapter.dispatch('regexp_full_match')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regexp_full_match(expr, pattern) -%}
    regexp_full_match({{ expr }}, {{ pattern }})
{%- endmacro %}

{% macro spark__regexp_full_match(expr, pattern) -%}
    ({{ expr }} rlike concat('^(?:', {{ pattern }}, ')$'))
{%- endmacro %}
