{#- The order that makes the latest delivery of a Comtrade key come first: the later release
    (from the file name) wins, then the later load, then the later file and row. One rule,
    used wherever a key's deliveries are ranked. -#}
{% macro latest_release_first() -%}
    file_release_date desc nulls last,
    loaded_at desc,
    source_file desc,
    source_row_number desc
{%- endmacro %}
