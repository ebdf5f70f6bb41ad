{#- The HS edition (first year in force) of a Comtrade classification code (H0 ... H6). -#}
{% macro hs_year_of_classification(column) -%}
    case {{ column }}
        when 'H0' then 1992
        when 'H1' then 1996
        when 'H2' then 2002
        when 'H3' then 2007
        when 'H4' then 2012
        when 'H5' then 2017
        when 'H6' then 2022
    end
{%- endmacro %}

{#- The HS edition in force in a calendar year (Comext CN follows the HS edition of its year). -#}
{% macro hs_year_of_period(year_expression) -%}
    case
        when {{ year_expression }} >= 2022 then 2022
        when {{ year_expression }} >= 2017 then 2017
        when {{ year_expression }} >= 2012 then 2012
        when {{ year_expression }} >= 2007 then 2007
        when {{ year_expression }} >= 2002 then 2002
        when {{ year_expression }} >= 1996 then 1996
        else 1992
    end
{%- endmacro %}
