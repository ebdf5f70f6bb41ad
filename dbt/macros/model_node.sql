{#- The node (model or seed, from dbt's graph) a relation was built from, or none: what a
    generic test learns of the model it tests beyond the relation (its tags, its meta). A
    direct lookup by name; a node with an alias of its own is searched for. -#}
{% macro model_node(relation) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for kind in ['model', 'seed'] -%}
        {%- set node = graph.nodes.get(kind ~ '.' ~ project_name ~ '.' ~ relation.identifier) -%}
        {%- if node and node.schema == relation.schema -%}
            {{ return(node) }}
        {%- endif -%}
    {%- endfor -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type in ('model', 'seed') and node.schema == relation.schema
            and (node.alias or node.name) == relation.identifier -%}
            {{ return(node) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}


{#- The meta of the model a relation was built from (its yml's config.meta), {} if none -#}
{% macro model_meta(relation) -%}
    {%- set node = model_node(relation) -%}
    {{ return((node.config.meta if node else none) or {}) }}
{%- endmacro %}
