{#- Dates to text and text to timestamps with one format, written in strftime's notation
    (%Y %m %d %y %H %M %S, the only codes translated): DuckDB reads it as is, Spark's
    datetime patterns (yyyy MM dd yy HH mm ss) are translated here. A %y year is 20yy on
    Spark (DuckDB: 19yy from 69 on): the years read here are this century's. -#}
{% macro format_date(expr, format) -%}
    {{ return(adapter.dispatch('format_date')(expr, format)) }}
{%- endmacro %}

{% macro default__format_date(expr, format) -%}
    strftime({{ expr }}, '{{ format }}')
{%- endmacro %}

{% macro spark__format_date(expr, format) -%}
    date_format({{ expr }}, '{{ java_datetime_pattern(format) }}')
{%- endmacro %}

{#- `expr` parsed to a timestamp with `format`; null when it does not parse. -#}
{% macro try_parse_timestamp(expr, format) -%}
    {{ return(adapter.dispatch('try_parse_timestamp')(expr, format)) }}
{%- endmacro %}

{% macro default__try_parse_timestamp(expr, format) -%}
    try_strptime({{ expr }}, '{{ format }}')
{%- endmacro %}

{% macro spark__try_parse_timestamp(expr, format) -%}
    try_to_timestamp({{ expr }}, '{{ java_datetime_pattern(format) }}')
{%- endmacro %}

{#- A strftime format in Spark's (Java's) datetime pattern notation. -#}
{% macro java_datetime_pattern(format) -%}
    {%- set codes = {'%Y': 'yyyy', '%m': 'MM', '%d': 'dd', '%y': 'yy', '%H': 'HH', '%M': 'mm', '%S': 'ss'} -%}
    {%- set ns = namespace(pattern=format) -%}
    {%- for code, letters in codes.items() -%}
        {%- set ns.pattern = ns.pattern.replace(code, letters) -%}
    {%- endfor -%}
    {%- if '%' in ns.pattern -%}
        {{ exceptions.raise_compiler_error('java_datetime_pattern: untranslated code in ' ~ format) }}
    {%- endif -%}
    {{ ns.pattern }}
{%- endmacro %}
