{#- The rows of a raw table with `is_current_file_version`: true when the row's file version
    (path + sha256) is the current one in raw.file_registry (status 'loaded'). Rows of
    superseded versions stay, for revision history; models that need today's data filter. -#}
{% macro with_file_version(raw_relation) %}
    select
        raw_rows.*,
        coalesce(file_versions.status = 'loaded', false) as is_current_file_version
    from {{ raw_relation }} as raw_rows
    left join {{ source('raw', 'file_registry') }} as file_versions
        on
            raw_rows._source_file = file_versions.path
            and raw_rows._file_sha256 = file_versions.sha256
{% endmacro %}
