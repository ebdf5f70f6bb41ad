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
    * trailing models (what judges the gaps): a row of period p also reads the periods of
      p's trailing recurrence window (the 12 months ending with p: recurrence counts and
      thresholds) and whether a reporter declares a frequency at all, so they delete and
      insert the window periods and the recurrence windows after them (macro
      trailing_periods, below): a new January rebuilds the December before and itself.

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
    the delete of the build periods, `post_hooks` after the insert -#}
{% macro period_model_config(pre_hooks=[], post_hooks=[]) -%}
    {{ return(_kept_between_builds_config(
        'period_model', pre_hooks + ["{{ delete_build_periods() }}"], post_hooks)) }}
{%- endmacro %}


{#- config of a trailing model: {{ config(**trailing_model_config()) }} (macro
    trailing_periods). Its rows of one frequency read that frequency only, so a new month
    leaves the annual rows of its year as they are. -#}
{% macro trailing_model_config(frequencies_matter=true) -%}
    {{ return(_kept_between_builds_config('trailing_model', [
        "{{ delete_trailing_periods(frequencies_matter=" ~ frequencies_matter ~ ") }}"
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
{% macro _kept_between_builds_config(tag, pre_hooks=[], post_hooks=[]) -%}
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
        {%- if post_hooks -%}
            {%- do config.update({'post_hook': post_hooks}) -%}
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


{#- Trailing models: what judges the gaps. A row of period p depends on more than period p's
    declarations: on p's timing window (the gaps it reads), on the periods of the trailing
    recurrence window (var recurrence_months: the 12 months ending with p; an annual period
    alone), over which the classification counts a flow's recurrence and a reporter's
    smallest declaration sets its threshold, and on whether the silent reporter reports this
    frequency at all. So a build period q changes the rows of q's timing window and of every
    period whose trailing window reaches those: the window periods and the recurrence window
    after each (macro trailing_periods). A new month rebuilds the month before it (its timing
    window) and itself, not their years: a period is judged by its past, and a new month does
    not rewrite the months before it, apart from its timing window. Every period when the
    reporters' frequencies changed, as for the window models. A trailing model's rows of one
    frequency read that frequency only. -#}

{#- The (freq, period) pairs a trailing model rebuilds, as a sorted list of [freq, period], or
    none for every period (macro window_periods). `back`: also the recurrence window before
    each (what a model that counts over those windows must read). -#}
{% macro trailing_periods(frequencies_matter=true, incremental=none, back=false) -%}
    {%- set periods = window_periods(frequencies_matter, incremental=incremental) -%}
    {%- if periods is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set reach = (var('recurrence_months') | int) - 1 -%}
    {#- a year's recurrence window is the year itself (reach // 12 more years) -#}
    {%- set years = reach // 12 -%}
    {%- set wanted = [] -%}
    {%- for freq, period in periods -%}
        {%- set wide = reach if freq == 'M' else years -%}
        {%- do _add_period_range(wanted, freq, period, wide if back else 0, wide) -%}
    {%- endfor -%}
    {{ return(wanted | sort) }}
{%- endmacro %}


{#- Append to `wanted` (a list of [freq, period]) the periods from `before` periods before
    `period` to `after` periods after it, of its frequency, that it does not hold yet. False
    for a period not understood (not YYYYMM for 'M', not YYYY for 'A'), true otherwise. -#}
{% macro _add_period_range(wanted, freq, period, before, after) -%}
    {%- if freq == 'M' and period | length == 6 -%}
        {%- set month_index = (period[:4] | int) * 12 + (period[4:] | int) - 1 -%}
        {%- for index in range(month_index - before, month_index + after + 1) -%}
            {%- set pair = ['M', '%04d%02d' | format(index // 12, index % 12 + 1)] -%}
            {%- if pair not in wanted -%}
                {%- do wanted.append(pair) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- elif freq == 'A' and period | length == 4 -%}
        {%- for year in range((period | int) - before, (period | int) + after + 1) -%}
            {%- if ['A', year | string] not in wanted -%}
                {%- do wanted.append(['A', year | string]) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(true) }}
{%- endmacro %}


{#- A period as months since year 0 (a year as its January), what a recurrence window counts
    back by: a month's window of 12 is itself and the 11 months before, a year's is itself. -#}
{% macro period_month(period='period', freq='freq') -%}
    cast(left({{ period }}, 4) as integer) * 12
    + case when {{ freq }} = 'M' then cast(right({{ period }}, 2) as integer) - 1 else 0 end
{%- endmacro %}


{#- The rows of the trailing periods (with the recurrence windows before them: `back`), as a
    condition on a relation's freq and period columns -#}
{% macro in_trailing_periods(freq='freq', period='period', back=false, frequencies_matter=true,
                             incremental=none) -%}
    {{ periods_condition(trailing_periods(frequencies_matter, incremental, back), freq, period) }}
{%- endmacro %}


{#- pre-hook of a trailing model: the periods about to be inserted go first -#}
{% macro delete_trailing_periods(frequencies_matter=true) -%}
    {%- if building_incrementally() -%}
        {{ _delete_rebuilt(trailing_periods(frequencies_matter)) }}
    {%- endif -%}
{%- endmacro %}


{#- Window models: the timing windows and the gaps. A row of period p reads the flows of p's
    timing window (var timing_window_months around a month, timing_window_years around a
    year) and nothing else beyond p, so a build period q changes the rows of every period
    whose window reaches q: q widened by the window, of q's frequency. Every period when the
    reporters' frequencies changed and they matter to the model (the gaps: whether the silent
    side reports a frequency at all), as for the trailing models. -#}

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
        {%- set wide = months if freq == 'M' else years_wide -%}
        {%- if not _add_period_range(wanted, freq, period, wide, wide) -%}
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
        {{ _delete_rebuilt(window_periods(frequencies_matter)) }}
    {%- endif -%}
{%- endmacro %}


{#- the delete of a window or trailing model's pre-hook, logged for the dbt step's log
    (`dbt: int_mirror__gaps: periods rebuilt: M:202412, M:202501`): `periods` as
    window_periods gives them, none for every period -#}
{% macro _delete_rebuilt(periods) -%}
    {%- if execute -%}
        {%- do log(this.identifier ~ ": periods rebuilt: " ~ (
            'every period' if periods is none
            else (periods | map('join', ':') | join(', ') or 'none')), info=True) -%}
    {%- endif -%}
    delete from {{ this }} where {{ periods_condition(periods) }}
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


{#- Which frequencies and flows each reporter declares at all, as they were before this build
    (pre-hook of int_reporter__declared_periods, before its periods are deleted). Kept until a
    build succeeds (`mirror` drops it then), so a build that failed half-way still compares
    with what the trailing models were built from. -#}
{% macro reporter_frequencies_before() -%}
    {{ return(rows_before('reporter_frequencies')) }}
{%- endmacro %}

{#- Whether they are unchanged, answered once per build: a table that exists only when the
    reporters' frequencies after int_reporter__declared_periods's build are those of the
    snapshot (dropped by its pre-hook, made by its post-hook, dropped with the snapshots after
    a successful build). The window and trailing models and their tests ask about 50 times a
    build; each question is one lookup in the catalog, not a comparison of two tables. -#}
{% macro reporter_frequencies_unchanged() -%}
    {{ return(rows_before('reporter_frequencies_unchanged')) }}
{%- endmacro %}

{#- config of int_reporter__declared_periods: a period model that snapshots the reporters'
    frequencies before its build and compares them after -#}
{% macro reporter_frequencies_config() -%}
    {{ return(period_model_config(
        pre_hooks=["{{ snapshot_reporter_frequencies() }}"],
        post_hooks=["{{ compare_reporter_frequencies() }}"],
    )) }}
{%- endmacro %}

{#- the (reporter, freq, flow) triples int_reporter__declared_periods holds -#}
{% macro _reporter_frequencies_now() -%}
    select distinct reporter_iso3, freq, flow_code from {{ this }}
{%- endmacro %}

{% macro snapshot_reporter_frequencies() -%}
    {%- if building_incrementally() -%}
        create schema if not exists {{ this.database }}.build;
        drop table if exists {{ reporter_frequencies_unchanged() }};
        create table if not exists {{ reporter_frequencies_before() }} as
        {{ _reporter_frequencies_now() }}
    {%- endif -%}
{%- endmacro %}

{#- post-hook of int_reporter__declared_periods: the answer, for the models after it -#}
{% macro compare_reporter_frequencies() -%}
    {%- if execute and building_incrementally() -%}
        {%- set now = _reporter_frequencies_now() -%}
        {%- set before = reporter_frequencies_before() -%}
        {%- set differing = run_query(
            '(' ~ now ~ ' except select * from ' ~ before ~ ') union all (select * from '
            ~ before ~ ' except ' ~ now ~ ') limit 1'
        ) -%}
        {%- if differing.rows | length == 0 -%}
            create table {{ reporter_frequencies_unchanged() }} as select true as unchanged
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- true unless the reporters' frequencies are known to be those of the snapshot (not
    compared yet in this build, or they differ): then every period is rebuilt -#}
{% macro reporter_frequencies_changed() -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(not table_in_database(reporter_frequencies_unchanged())) }}
{%- endmacro %}


{#- The rows of `model` this build computed, as a condition for its data tests (model_rules):
    a period model's build periods, a window model's window periods, a trailing model's
    trailing periods (every period when the reporters' frequencies changed, whichever the
    model), every row of any other model or in a full build. The rows kept from earlier builds passed these tests then and did not change; a
    change of the tests themselves is a change of code, which builds and tests every row.
    Every unique key of these models holds their period, so a duplicate can only
    be among the rows built. -#}
{% macro rows_built(model) -%}
    {%- set node = model_node(model) if supports_build_by_period() else none -%}
    {%- set tags = node.tags if node else [] -%}
    {%- if 'period_model' in tags -%}
        {{ in_build_periods(incremental=true) }}
    {%- elif 'window_model' in tags -%}
        {{ in_window_periods(incremental=true) }}
    {%- elif 'trailing_model' in tags -%}
        {{ in_trailing_periods(incremental=true) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
