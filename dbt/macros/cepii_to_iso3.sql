{#- CEPII GeoDist uses a few codes that differ from today's ISO 3166-1 alpha-3. -#}
{% macro cepii_to_iso3(column) -%}
    case {{ column }}
        when 'ROM' then 'ROU'
        when 'ZAR' then 'COD'
        when 'PAL' then 'PSE'
        when 'TMP' then 'TLS'
        when 'YUG' then 'SRB'
        else {{ column }}
    end
{%- endmacro %}
