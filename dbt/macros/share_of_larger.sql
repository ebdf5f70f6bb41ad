{#- 100 × (a − b) / max(a, b): a gap as a share of the larger side, bounded to ±100 and
    symmetric between over- and under-declaration. Null when a side is missing. The
    arguments are parenthesised: they may be sums. -#}
{% macro share_of_larger(a, b) -%}
    100 * (({{ a }}) - ({{ b }})) / nullif(greatest({{ a }}, {{ b }}), 0)
{%- endmacro %}
