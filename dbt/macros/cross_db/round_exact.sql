{#- `expr` (a double) rounded to `digits` (0-8) decimals as DuckDB rounds: its exact binary
    value, half away from zero. DuckDB's round does that; Spark's rounds the double's
    shortest decimal form (2.675 -> 2.68, where the double is 2.67499999... and DuckDB gives
    2.67): on Spark the product expr x 10^digits is computed exactly (Dekker's split: the
    rounded product p plus its error) and the error decides a tie of p. -#}
{#- An expression too long for a string argument is the body of a call block:
    {% call round_exact(digits=2) %} case ... end {% endcall %} -#}
{% macro round_exact(expr=none, digits=0) -%}
    {{ return(adapter.dispatch('round_exact')(caller() if expr is none else expr, digits)) }}
{%- endmacro %}

{% macro default__round_exact(expr, digits) -%}
    round({{ expr }}, {{ digits }})
{%- endmacro %}

{% macro spark__round_exact(expr, digits) -%}
    {{ spark__round_binary(expr, digits, half_even=false) }}
{%- endmacro %}

{#- The Spark rounding of a double's exact value, ties away from zero or (`half_even`, as C's
    printf) to the even neighbour. Lambdas bind each intermediate value once. A value whose
    product with 10^digits reaches 2^52 has no decimals to round: kept. -#}
{% macro spark__round_binary(expr, digits, half_even) -%}
    {%- set scale = 10.0 ** digits -%}
    {%- set split = 134217729.0 * scale -%}
    {%- set scale_high = split - (split - scale) -%}
    {%- set scale_low = scale - scale_high -%}
    element_at(transform(array(cast({{ expr }} as double)), x ->
        case
            when x is null or isnan(x) or abs(x) * {{ scale }}D >= 4503599627370496D then x
            else signum(x) * element_at(transform(array(abs(x)), a ->
                element_at(transform(array(a * {{ scale }}D), p ->
                    element_at(transform(array(134217729D * a), c ->
                        element_at(transform(array(c - (c - a)), a_high ->
                            element_at(transform(
                                array(
                                    ((a_high * {{ scale_high }}D - p) + a_high * {{ scale_low }}D
                                    + (a - a_high) * {{ scale_high }}D) + (a - a_high) * {{ scale_low }}D
                                ),
                                error -> (
                                    floor(p) + case
                                        when p - floor(p) > 0.5D then 1
                                        when p - floor(p) < 0.5D then 0
                                        when error > 0 then 1
                                        when error < 0 then 0
                                        {%- if half_even %}
                                        when floor(p) % 2 = 0 then 0
                                        {%- endif %}
                                        else 1
                                    end
                                ) / {{ scale }}D
                            ), 1)
                        ), 1)
                    ), 1)
                ), 1)
            ), 1)
        end
    ), 1)
{%- endmacro %}
