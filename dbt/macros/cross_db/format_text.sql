{#- printf: `format` (the text itself, not a SQL literal) with %s, %d, %.Nf, %g and %%
    filled from `args` (SQL expressions, one per conversion); null when an argument is null.
    DuckDB: printf. Spark's format_string writes a null argument as 'null' (or 'nul' for
    %.3f) and %g in Java's way (2.50000, not 2.5): the nulls are tested first and %g is
    written C's way from %.Nf / %.Ne; %.Nf is rounded first as C rounds (round_exact.sql). -#}
{% macro format_text(format, args) -%}
    {{ return(adapter.dispatch('format_text')(format, args)) }}
{%- endmacro %}

{% macro default__format_text(format, args) -%}
    printf({{ sql_string_literal(format) }}{% for arg in args %}, {{ arg }}{% endfor %})
{%- endmacro %}

{% macro spark__format_text(format, args) -%}
    {%- set conversions = modules.re.findall('%[-+ #0,]*[0-9]*(?:[.][0-9]+)?[a-zA-Z%]', format) -%}
    {%- set conversions = conversions | reject('equalto', '%%') | list -%}
    {%- if conversions | length != args | length -%}
        {{ exceptions.raise_compiler_error('format_text: ' ~ conversions | length ~ ' conversions, '
            ~ args | length ~ ' arguments in ' ~ format) }}
    {%- endif -%}
    {#- Java's %f takes no Spark decimal: the floating conversions get doubles -#}
    {%- set spark_args = [] -%}
    {%- for conversion in conversions -%}
        {%- set arg = args[loop.index0] -%}
        {%- if conversion == '%g' -%}
            {%- do spark_args.append(spark__c_style_g('cast((' ~ arg ~ ') as double)')) -%}
        {%- elif conversion[-1] == 'f' and '.' in conversion -%}
            {#- rounded first as C rounds (the exact value, ties to even): Java would round
                the shortest decimal form half up (2.5 -> 3 where DuckDB writes 2) -#}
            {%- set decimals = conversion.split('.')[-1][:-1] | int -%}
            {%- do spark_args.append(spark__round_binary(arg, decimals, half_even=true)) -%}
        {%- elif conversion[-1] in 'fe' -%}
            {%- do spark_args.append('cast((' ~ arg ~ ') as double)') -%}
        {%- else -%}
            {%- do spark_args.append(arg) -%}
        {%- endif -%}
    {%- endfor -%}
    case
        when {% for arg in args %}{{ 'or ' if not loop.first }}({{ arg }}) is null {% endfor %}then null
        else format_string(
            {{- sql_string_literal(format.replace('%g', '%s')) }}
            {%- for arg in spark_args %}, {{ arg }}{% endfor -%}
        )
    end
{%- endmacro %}

{#- A number as C's %g writes it (6 significant digits, no trailing zeros, an exponent
    below 1e-4 and from 1e6 on). -#}
{% macro spark__c_style_g(expr) -%}
    {%- set exponent = 'floor(log10(abs(' ~ expr ~ ')))' -%}
    case
        when {{ expr }} = 0 then '0'
        when {{ exponent }} between -4 and 5
            then regexp_replace(
                regexp_replace(
                    format_string(concat('%.', 5 - {{ exponent }}, 'f'), {{ expr }}),
                    '([.][0-9]*?)0+$', '$1'
                ),
                '[.]$', ''
            )
        else regexp_replace(
            regexp_replace(format_string('%.5e', {{ expr }}), '([.][0-9]*?)0+e', '$1e'),
            '[.]e', 'e'
        )
    end
{%- endmacro %}

{#- A text as a SQL string literal (single quotes doubled). -#}
{% macro sql_string_literal(text) -%}
    '{{ text.replace("'", "''") }}'
{%- endmacro %}
