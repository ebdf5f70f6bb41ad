{#- How the warehouse is rebuilt when little changed (docs/architecture.md, "Incremental build
    by period"). Two kinds of models besides plain tables:

    * period models (the declaration-level chain): a row of period p depends only on the inputs
      of period p and on the estimates. `mirror` passes env var `MIRROR_BUILD_PERIODS`, the
      (freq, period) pairs the ingest touched, as JSON; the model deletes those periods and
      inserts them again, leaving every other period as it is. Without it (a full build, JSON
      null) every period is
      deleted and inserted, so a period that lost all its rows is gone too.
    * estimates (margins, reporter noise, detected transit corridors): computed from all of
      history, stamped with `estimate_vintage` and kept as they are until they are refreshed:
      when none exists yet or on `--full-refresh` (what `mirror run --refresh-estimates` and a
      change of code run).

    The strategy lives here only: a target without delete (dbt-spark on plain Parquet) gets
    plain tables, i.e. a full build every time, with estimates refreshed every build. -#}

{% macro supports_build_by_period() -%}
    {{ return(target.type == 'duckdb') }}
{%- endmacro %}


{#- is_incremental(), except in a dbt unit test (no relation to build into: it tests what a
    full build computes) -#}
{% macro building_incrementally() -%}
    {{ return(this is not none and is_incremental()) }}
{%- endmacro %}


{#- config of a period model: {{ config(**period_model_config()) }} -#}
{% macro period_model_config() -%}
    {{ return(_kept_between_builds_config('period_model', "{{ delete_build_periods() }}")) }}
{%- endmacro %}


{#- config of an estimate: {{ config(**estimate_config()) }} -#}
{% macro estimate_config() -%}
    {{ return(_kept_between_builds_config('estimate')) }}
{%- endmacro %}


{#- what both kinds share: an incremental model that appends (after the period model's
    pre-hook deleted its periods; an estimate appends nothing while it exists) where the target
    supports it, a plain table elsewhere -#}
{% macro _kept_between_builds_config(tag, pre_hook=none) -%}
    {%- set config = {'materialized': 'table', 'tags': [tag]} -%}
    {%- if supports_build_by_period() -%}
        {%- do config.update({
            'materialized': 'incremental',
            'incremental_strategy': 'append',
            'on_schema_change': 'fail',
        }) -%}
        {%- if pre_hook is not none -%}
            {%- do config.update({'pre_hook': pre_hook}) -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(config) }}
{%- endmacro %}


{#- The periods this build computes, as a condition on a relation's freq and period columns:
    true in a full build (no var, or the table does not exist yet), false for an empty list. -#}
{% macro in_build_periods(freq='freq', period='period') -%}
    {#- an environment variable, not a var: a changed var makes dbt parse the whole project
        again (~60 s on a loaded machine), a changed env var only the files that read it -#}
    {%- set periods = fromjson(env_var('MIRROR_BUILD_PERIODS', 'null')) -%}
    {%- if not building_incrementally() or periods is none -%}
        true
    {%- elif periods | length == 0 -%}
        false
    {%- else -%}
        {#- the plain period list first: it can be pushed into the scan -#}
        ({{ period }} in (
            {%- for p in periods | map(attribute=1) | unique | sort -%}
                '{{ p }}'{{ ', ' if not loop.last }}
            {%- endfor -%}
        )
        and {{ freq }} || ':' || {{ period }} in (
            {%- for p in periods | sort -%}
                '{{ p[0] }}:{{ p[1] }}'{{ ', ' if not loop.last }}
            {%- endfor -%}
        ))
    {%- endif -%}
{%- endmacro %}


{#- pre-hook of a period model: the periods about to be inserted go first (all of them in a
    full build; nothing when the table is created) -#}
{% macro delete_build_periods() -%}
    {%- if building_incrementally() -%}
        delete from {{ this }} where {{ in_build_periods() }}
    {%- endif -%}
{%- endmacro %}


{#- The vintage of the estimates computed now: what `mirror` passes (when, and the
    fingerprints of the inputs they were computed from), or when and which dbt invocation for a
    hand-run dbt. -#}
{% macro estimate_vintage() -%}
    {%- set passed = env_var('MIRROR_ESTIMATE_VINTAGE', '') -%}
    '{{ passed or run_started_at.strftime("%Y-%m-%dT%H:%M:%SZ") ~ " dbt " ~ invocation_id }}'
{%- endmacro %}


{#- The last clause of an estimate's query: nothing new while one exists (it is kept with its
    vintage); everything on a refresh (the table is then rebuilt whole). -#}
{% macro keep_existing_estimate() -%}
    {%- if building_incrementally() -%}
        where false
    {%- endif -%}
{%- endmacro %}
