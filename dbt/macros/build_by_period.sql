{#- How the warehouse is rebuilt when little changed (docs/architecture.md, "Incremental build
    by period"). Three kinds of models besides plain tables:

    * period models (the declaration-level chain): a row of period p depends only on the inputs
      of period p and on the estimates. `mirror` passes env var `MIRROR_BUILD_PERIODS`, the
      (freq, period) pairs the ingest touched, as JSON; the model deletes those periods and
      inserts them again, leaving every other period as it is. Without it (a full build, JSON
      null) every period is
      deleted and inserted, so a period that lost all its rows is gone too.
    * estimates (margins, reporter noise, detected transit corridors, reporter reliability):
      computed from all of history, stamped with `estimate_vintage` and kept as they are until
      they are refreshed: when none exists yet or on `--full-refresh` (what `mirror run --refresh-estimates` and a
      change of code run).
    * window models (the timing windows and the gaps): a row of period p depends on the
      periods of p's timing window, so a build period rebuilds the periods whose window
      reaches it (macro window_periods, below): a new January rebuilds the December before,
      not its year.
    * year models (what judges the gaps): rows reach beyond their period (yearly counts and
      thresholds, whether a reporter declares a frequency at all), so they delete and insert
      the calendar years of a frequency (macro build_years, below).

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


{#- config of a period model: {{ config(**period_model_config()) }}; `pre_hooks` run before
    the delete of the build periods -#}
{% macro period_model_config(pre_hooks=[]) -%}
    {{ return(_kept_between_builds_config('period_model', pre_hooks + ["{{ delete_build_periods() }}"])) }}
{%- endmacro %}


{#- config of a year model: {{ config(**year_model_config()) }}. A year model's rows of one
    frequency read that frequency only, so its years are rebuilt per frequency: a new month
    leaves the annual rows of its year as they are. -#}
{% macro year_model_config(frequencies_matter=true) -%}
    {{ return(_kept_between_builds_config('year_model', [
        "{{ delete_build_years(frequencies_matter=" ~ frequencies_matter ~ ") }}"
    ])) }}
{%- endmacro %}


{#- config of a window model: {{ config(**window_model_config()) }} (macro window_periods) -#}
{% macro window_model_config(frequencies_matter=true) -%}
    {{ return(_kept_between_builds_config('window_model', [
        "{{ delete_window_periods(frequencies_matter=" ~ frequencies_matter ~ ") }}"
    ])) }}
{%- endmacro %}


{#- config of an estimate: {{ config(**estimate_config()) }} -#}
{% macro estimate_config() -%}
    {{ return(_kept_between_builds_config('estimate')) }}
{%- endmacro %}


{#- what both kinds share: an incremental model that appends (after the period model's
    pre-hook deleted its periods; an estimate appends nothing while it exists) where the target
    supports it, a plain table elsewhere -#}
{% macro _kept_between_builds_config(tag, pre_hooks=[]) -%}
    {%- set config = {'materialized': 'table', 'tags': [tag]} -%}
    {%- if supports_build_by_period() -%}
        {%- do config.update({
            'materialized': 'incremental',
            'incremental_strategy': 'append',
            'on_schema_change': 'fail',
        }) -%}
        {%- if pre_hooks -%}
            {%- do config.update({'pre_hook': pre_hooks}) -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(config) }}
{%- endmacro %}


{#- The periods `mirror` asks this build for, as [[freq, period], ...], or none for every
    period. An environment variable, not a var: a changed var makes dbt parse the whole project
    again (~60 s on a loaded machine). Read when executing only: dbt remembers an env var read
    while it parses a file and parses that file again whenever the value changes, which each
    build's did (19 files; 1.2 s of every dbt command, measured on the sample). What a model's
    SQL is when parsed does not matter: dbt parses it for its refs and config only. -#}
{% macro build_periods() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(fromjson(env_var('MIRROR_BUILD_PERIODS', 'null'))) }}
{%- endmacro %}


{#- The periods this build computes, as a condition on a relation's freq and period columns:
    true in a full build (no var, or the table does not exist yet), false for an empty list. -#}
{#- `incremental`: whether the model was built incrementally (default: the model being built) -#}
{% macro in_build_periods(freq='freq', period='period', incremental=none) -%}
    {%- set periods = build_periods() -%}
    {%- set incremental = building_incrementally() if incremental is none else incremental -%}
    {{ periods_condition(periods if incremental else none, freq, period) }}
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
    {#- read when executing only, as build_periods() -#}
    {%- set passed = env_var('MIRROR_ESTIMATE_VINTAGE', '') if execute else '' -%}
    '{{ passed or run_started_at.strftime("%Y-%m-%dT%H:%M:%SZ") ~ " dbt " ~ invocation_id }}'
{%- endmacro %}


{#- The last clause of an estimate's query: nothing new while one exists (it is kept with its
    vintage); everything on a refresh (the table is then rebuilt whole). -#}
{% macro keep_existing_estimate() -%}
    {%- if building_incrementally() -%}
        where false
    {%- endif -%}
{%- endmacro %}


{#- Year models: the gaps and what judges them (timing windows, classification, the mirror
    fact). A row of period p depends on more than period p's declarations: the timing window
    sums p's neighbours, the classification and the reporting thresholds look at p's calendar
    year, and a one-sided flow asks whether the silent reporter reports this frequency at all.
    So they are rebuilt by calendar years: the years of the build periods widened by the
    timing window (a January's window reaches the December before, which changes that year's
    classification), or every year when the frequencies a reporter reports changed
    (int_reporter__declared_periods snapshots them before this build). A year model's rows of
    one frequency read that frequency only, so the years of each frequency are rebuilt apart: a
    new month rebuilds the monthly rows of its year and the year before, not their annual rows
    (a tenth of a year's rows at 5M). The reliability scores, which mix frequencies and are
    relative to a year's median reporter, are an estimate, not a year model. -#}

{#- The calendar years to rebuild, as a sorted list of 'F:YYYY' (the rows of frequency F in
    year YYYY); none for every year (a full build, a table not built yet, a period not
    understood, or the reporters' frequencies changed and they matter to the model: not to the
    timing windows, which read declarations only, and run before int_reporter__declared_periods
    may have been rebuilt). -#}
{% macro build_years(frequencies_matter=true, incremental=none) -%}
    {#- the years of the window periods: a period's window is what reaches beyond it -#}
    {%- set periods = window_periods(frequencies_matter, incremental=incremental) -%}
    {%- if periods is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set years = [] -%}
    {%- for freq, period in periods if (freq ~ ':' ~ period[:4]) not in years -%}
        {%- do years.append(freq ~ ':' ~ period[:4]) -%}
    {%- endfor -%}
    {{ return(years | sort) }}
{%- endmacro %}


{#- A snapshot taken before this build: build.<name>_before (the reporters' frequencies').
    Every snapshot is named so: `mirror` drops the tables of schema build with this suffix
    after a successful build (build_plan.forget_snapshots). -#}
{% macro rows_before(name) -%}
    {{ return(api.Relation.create(database=target.database, schema='build',
                                   identifier=name ~ '_before')) }}
{%- endmacro %}


{#- Whether `relation` exists, asked of the database. Not load_relation: dbt caches a schema's
    tables when it first lists them, and does not see a table a hook created after that (the
    snapshots below, in schema build, once the build listed it). -#}
{% macro table_in_database(relation) -%}
    {%- set found = run_query(
        "select count(*) from duckdb_tables() where database_name = '" ~ relation.database
        ~ "' and schema_name = '" ~ relation.schema ~ "' and table_name = '"
        ~ relation.identifier ~ "'"
    ) -%}
    {{ return(found.rows[0][0] > 0) }}
{%- endmacro %}


{#- The rows of the build years, as a condition on a relation's period (and freq) column
    (true: every year; false: none). -#}
{% macro in_build_years(period='period', frequencies_matter=true, incremental=none, freq='freq') -%}
    {{ years_condition(build_years(frequencies_matter, incremental), period, freq) }}
{%- endmacro %}


{#- `years` (build_years' answer, 'F:YYYY': none is every year) as a condition on `period`
    and `freq`. As ranges of `period` ('2024' <= period <
    '2026': the periods of 2024 and 2025, annual or monthly), not left(period, 4): a range is
    a comparison of the column itself, which DuckDB checks against each row group's min and max
    before it reads it, and it costs no string built per row. -#}
{% macro years_condition(years, period='period', freq='freq') -%}
    {%- if years is none -%}
        true
    {%- elif years | length == 0 -%}
        false
    {%- else -%}
        {#- the years of each frequency, and of any -#}
        {%- set by_freq = {} -%}
        {%- for year in years | unique | sort -%}
            {%- do by_freq.setdefault(year[:-5], []).append(year[-4:]) -%}
        {%- endfor -%}
        {%- set every = by_freq.values() | sum(start=[]) | unique | sort | list -%}
        {%- set span = period ~ " >= '" ~ every[0] ~ "' and " ~ period ~ " < '"
            ~ '%04d' | format((every[-1] | int) + 1) ~ "'" -%}
        {#- a group of years fills the span when it has as many years (both are sorted, unique) -#}
        {%- set span_length = (every[-1] | int) - (every[0] | int) + 1 -%}
        {%- set parts = [] -%}
        {%- for key, group in by_freq | dictsort -%}
            {%- set ranges = '' if group | length == span_length else _year_ranges(group, period) -%}
            {%- do parts.append(freq ~ " = '" ~ key ~ "'" ~ (' and ' ~ ranges if ranges else '')) -%}
        {%- endfor -%}
        {#- the span of every year first (what the scan can skip by), then what each frequency rebuilds -#}
        ({{ span }}
        {%- if parts | length == 1 %} and {{ parts[0] }}
        {%- else %} and (({{ parts | join(') or (') }}))
        {%- endif -%}
        )
    {%- endif -%}
{%- endmacro %}


{#- sorted years 'YYYY' as ranges of `period`: one per run of consecutive years, or-ed -#}
{% macro _year_ranges(years, period) -%}
    {%- set runs = [] -%}
    {%- for year in years | map('int') | unique | sort -%}
        {%- if runs and runs[-1][1] + 1 == year -%}
            {%- do runs.append([runs.pop()[0], year]) -%}
        {%- else -%}
            {%- do runs.append([year, year]) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set conditions = [] -%}
    {%- for first, last in runs -%}
        {%- do conditions.append(period ~ " >= '" ~ '%04d' | format(first) ~ "' and " ~ period
            ~ " < '" ~ '%04d' | format(last + 1) ~ "'") -%}
    {%- endfor -%}
    {{ return(conditions[0] if conditions | length == 1 else '((' ~ conditions | join(') or (') ~ '))') }}
{%- endmacro %}


{#- pre-hook of a year model: the years about to be inserted go first -#}
{% macro delete_build_years(frequencies_matter=true) -%}
    {%- if building_incrementally() -%}
        {%- set years = build_years(frequencies_matter) -%}
        {{ _delete_rebuilt('year', years, years_condition(years)) }}
    {%- endif -%}
{%- endmacro %}


{#- Window models: the timing windows and the gaps. A row of period p reads the flows of p's
    timing window (var timing_window_months around a month, timing_window_years around a
    year) and nothing else beyond p, so a build period q changes the rows of every period
    whose window reaches q: q widened by the window, of q's frequency. Every period when the
    reporters' frequencies changed and they matter to the model (the gaps: whether the silent
    side reports a frequency at all), as for the year models. -#}

{#- The (freq, period) pairs to rebuild, as a sorted list of [freq, period], or none for every
    period (a full build, a table not built yet, a period not understood, or the reporters'
    frequencies changed). `widen`: as many windows more on each side (what a model that
    computes the windows of those periods must read). -#}
{% macro window_periods(frequencies_matter=true, widen=0, incremental=none) -%}
    {%- set periods = build_periods() -%}
    {%- set incremental = building_incrementally() if incremental is none else incremental -%}
    {%- if not incremental or periods is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set months = (var('timing_window_months') | int) * (1 + widen) -%}
    {%- set years_wide = (var('timing_window_years') | int) * (1 + widen) -%}
    {%- set wanted = [] -%}
    {%- for freq, period in periods -%}
        {%- if freq == 'M' and period | length == 6 -%}
            {%- set month_index = (period[:4] | int) * 12 + (period[4:] | int) - 1 -%}
            {%- for index in range(month_index - months, month_index + months + 1) -%}
                {%- set pair = ['M', '%04d%02d' | format(index // 12, index % 12 + 1)] -%}
                {%- if pair not in wanted -%}
                    {%- do wanted.append(pair) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- elif freq == 'A' and period | length == 4 -%}
            {%- for year in range((period | int) - years_wide, (period | int) + years_wide + 1) -%}
                {%- if ['A', year | string] not in wanted -%}
                    {%- do wanted.append(['A', year | string]) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- else -%}
            {{ return(none) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if wanted and frequencies_matter and reporter_frequencies_changed() -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(wanted | sort) }}
{%- endmacro %}


{#- The rows of the window periods, as a condition on a relation's freq and period columns -#}
{% macro in_window_periods(freq='freq', period='period', widen=0, frequencies_matter=true,
                           incremental=none) -%}
    {{ periods_condition(window_periods(frequencies_matter, widen, incremental), freq, period) }}
{%- endmacro %}


{#- `periods` (a list of [freq, period], none for every period) as a condition -#}
{% macro periods_condition(periods, freq='freq', period='period') -%}
    {%- if periods is none -%}
        true
    {%- elif periods | length == 0 -%}
        false
    {%- else -%}
        {%- set by_freq = {} -%}
        {%- for f, p in periods | sort -%}
            {%- do by_freq.setdefault(f, []).append(p) -%}
        {%- endfor -%}
        {%- set parts = [] -%}
        {%- for f, group in by_freq | dictsort -%}
            {%- do parts.append(freq ~ " = '" ~ f ~ "'" ~ (
                '' if by_freq | length == 1 else ' and ' ~ _in_list(period, group))) -%}
        {%- endfor -%}
        {#- the plain period list first: it can be pushed into the scan -#}
        ({{ _in_list(period, periods | map(attribute=1) | unique | sort) }}
        {%- if parts | length == 1 %} and {{ parts[0] }}
        {%- else %} and (({{ parts | join(') or (') }}))
        {%- endif -%}
        )
    {%- endif -%}
{%- endmacro %}


{#- `column in ('a', 'b')` -#}
{% macro _in_list(column, values) -%}
    {{ column }} in ('{{ values | join("', '") }}')
{%- endmacro %}


{#- pre-hook of a window model: the periods about to be inserted go first -#}
{% macro delete_window_periods(frequencies_matter=true) -%}
    {%- if building_incrementally() -%}
        {%- set periods = window_periods(frequencies_matter) -%}
        {%- set names = none if periods is none else periods | map('join', ':') | list -%}
        {{ _delete_rebuilt('period', names, periods_condition(periods)) }}
    {%- endif -%}
{%- endmacro %}


{#- the delete of a year or window model's pre-hook, logged for the dbt step's log
    (`dbt: int_mirror__gaps: periods rebuilt: M:202412, M:202501`): `rebuilt` lists the years
    or periods, none for every one -#}
{% macro _delete_rebuilt(unit, rebuilt, condition) -%}
    {%- if execute -%}
        {%- do log(this.identifier ~ ": " ~ unit ~ "s rebuilt: " ~ (
            'every ' ~ unit if rebuilt is none else (rebuilt | join(', ') or 'none')), info=True) -%}
    {%- endif -%}
    delete from {{ this }} where {{ condition }}
{%- endmacro %}


{#- Which frequencies and flows each reporter declares at all, as they were before this build
    (pre-hook of int_reporter__declared_periods, before its periods are deleted). Kept until a
    build succeeds (`mirror` drops it then), so a build that failed half-way still compares
    with what the year models were built from. -#}
{% macro reporter_frequencies_before() -%}
    {{ return(rows_before('reporter_frequencies')) }}
{%- endmacro %}

{% macro snapshot_reporter_frequencies() -%}
    {%- if building_incrementally() -%}
        create schema if not exists {{ this.database }}.build;
        create table if not exists {{ reporter_frequencies_before() }} as
        select distinct reporter_iso3, freq, flow_code from {{ this }}
    {%- endif -%}
{%- endmacro %}


{#- true when the reporters' frequencies differ from the snapshot, or none was taken -#}
{% macro reporter_frequencies_changed() -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set before = reporter_frequencies_before() -%}
    {%- if not table_in_database(before) -%}
        {{ return(true) }}
    {%- endif -%}
    {#- not ref(): a model that calls this depends on it through int_mirror__gaps, and a ref
        here would make every dbt unit test of a year model give it as an input -#}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.int_reporter__declared_periods'] -%}
    {%- set now -%}
        select distinct reporter_iso3, freq, flow_code
        from {{ api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) }}
    {%- endset -%}
    {%- set differing = run_query(
        '(' ~ now ~ ' except select * from ' ~ before ~ ') union all (select * from '
        ~ before ~ ' except ' ~ now ~ ') limit 1'
    ) -%}
    {{ return(differing.rows | length > 0) }}
{%- endmacro %}


{#- The rows of `model` this build computed, as a condition for its data tests (model_rules):
    a period model's build periods, a window model's window periods, a year model's build
    years (every period or year when the reporters' frequencies changed, whichever the model), every row of any other model or in a full
    build. The rows kept from earlier builds passed these tests then and did not change; a
    change of the tests themselves is a change of code, which builds and tests every row.
    Every unique key of these models holds their period (or year), so a duplicate can only
    be among the rows built. -#}
{% macro rows_built(model) -%}
    {%- set found = [] -%}
    {%- if execute and supports_build_by_period() -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and node.schema == model.schema
                and (node.alias or node.name) == model.identifier -%}
                {%- do found.append(node) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set tags = found[0].tags if found else [] -%}
    {%- if 'period_model' in tags -%}
        {{ in_build_periods(incremental=true) }}
    {%- elif 'window_model' in tags -%}
        {{ in_window_periods(incremental=true) }}
    {%- elif 'year_model' in tags -%}
        {{ in_build_years(incremental=true) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
