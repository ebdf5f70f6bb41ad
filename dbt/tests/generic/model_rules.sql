{#- Every row rule of one model, evaluated set-based: one row per broken rule.

    The rules are the model's (or seed's) `config.meta.rules` in its yml, one test instance per
    severity (a second instance reads another key: `arguments: {meta_key: warn_rules}` with
    `config: {severity: warn}`). Each key is optional:
      not_null:        [column, ...]                  the column is never null
      unique:          [[column, ...], ...]           no two rows share these columns' values
                                                      (a row whose key is all null has none,
                                                      as in dbt's `unique`)
      accepted_values: {column: [value, ...]}         a non-null value is one of these
      matches:         {column: regular expression}   a non-null value matches it in full
      expressions:     [{name, expression, where}]    `expression` is true (null counts as
                                                      false) on every row matching `where`
      key:             [column, ...]                  columns naming a row in the examples
                                                      (default: the first unique key)

    Why the model's meta and not the test's arguments: dbt renders every string of a generic
    test's arguments again for every test it runs, each in a fresh copy of the whole Jinja
    context (all the project's macros), about 8 ms a string; the rules' 380 strings were 3 s of
    every dbt build, a quarter of the sample's (docs/architecture.md, "Rules read once"). A
    model's meta is rendered once, when dbt parses the yml, with `var()` and `target` (no
    macros: a pattern is a `matches` rule, which calls regexp_full_match here).

    Why one test per model and not one per rule: dbt spends ~60 ms per node whatever the data
    (docs/architecture.md), and 316 rule tests were most of a build's nodes. The not-null,
    accepted-values, matches and expression rules are all counted in one aggregate pass over
    the model; each unique key is one grouping. Every failing rule still names itself: a
    result row is `rule` (not_null, unique, accepted_values, matches or the expression's
    name), `columns` (the column(s) or the expression), `failing_rows` and `examples` (the
    first and last offending row by `key`), which `dagster_project/transform/failures.py`
    puts in the run's cause.
    An empty model breaks no rule (counts are 0, never null).
    Plain SQL only (count/min/max over case, values, ||; patterns through the cross-database
    regexp_full_match): no DuckDB-only function.
    Only the rows this build computed are tested (macro rows_built): a build of one month tests
    that month of a period model and those years of a year model, not all of history. -#}
{% test model_rules(model, meta_key='rules') %}
{%- set _RULE_KINDS = ['not_null', 'unique', 'accepted_values', 'matches', 'expressions', 'key'] -%}
{%- set rules = model_meta(model).get(meta_key) if execute else {} -%}
{%- if execute and rules is not mapping -%}
    {{ exceptions.raise_compiler_error(
        "model_rules on " ~ model ~ ": no rules under config.meta." ~ meta_key
        ~ " in the model's yml (a mapping of not_null, unique, accepted_values, matches,"
        ~ " expressions, key)") }}
{%- endif -%}
{%- set unknown = rules.keys() | reject('in', _RULE_KINDS) | list if execute else [] -%}
{%- if unknown -%}
    {{ exceptions.raise_compiler_error(
        "model_rules on " ~ model ~ ": config.meta." ~ meta_key ~ " has " ~ unknown | join(', ')
        ~ ", not a rule kind (" ~ _RULE_KINDS | join(', ') ~ ")") }}
{%- endif -%}
{%- set not_null = rules.get('not_null', []) -%}
{%- set unique = rules.get('unique', []) -%}
{%- set accepted_values = rules.get('accepted_values', {}) -%}
{%- set matches = rules.get('matches', {}) -%}
{%- set expressions = rules.get('expressions', []) -%}
{#- the rows this build computed (macro rows_built: a build by period or year tests those) -#}
{%- set tested -%}(select * from {{ model }} where {{ rows_built(model) }}){%- endset -%}
{%- set key = rules.get('key') or (unique[0] if unique else []) -%}
{%- set row_rules = [] -%}
{%- for column in not_null -%}
    {%- do row_rules.append({'rule': 'not_null', 'columns': column, 'broken': column ~ ' is null'}) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {%- set literals = [] -%}
    {%- for value in values -%}
        {%- do literals.append("'" ~ (value | replace("'", "''")) ~ "'" if value is string else value | string) -%}
    {%- endfor -%}
    {%- do row_rules.append({
        'rule': 'accepted_values',
        'columns': column,
        'broken': column ~ ' is not null and ' ~ column ~ ' not in (' ~ literals | join(', ') ~ ')',
    }) -%}
{%- endfor -%}
{%- for column, pattern in matches.items() -%}
    {%- do row_rules.append({
        'rule': 'matches',
        'columns': column ~ ' ~ ' ~ pattern,
        'broken': column ~ ' is not null and not ' ~ regexp_full_match(
            column, "'" ~ (pattern | replace("'", "''")) ~ "'"),
    }) -%}
{%- endfor -%}
{%- for item in expressions -%}
    {%- set rule = item if item is mapping else {'expression': item} -%}
    {%- set broken = 'not coalesce((' ~ rule.expression ~ '), false)' -%}
    {%- if rule.get('where') -%}
        {%- set broken = '(' ~ rule.where ~ ') and ' ~ broken -%}
    {%- endif -%}
    {%- do row_rules.append({
        'rule': rule.get('name') or 'expression',
        'columns': rule.expression ~ (' where ' ~ rule.where if rule.get('where') else ''),
        'broken': broken,
    }) -%}
{%- endfor -%}
{%- set key_parts = [] -%}
{%- for column in key -%}
    {%- do key_parts.append("'" ~ column ~ "=' || coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), 'null')") -%}
{%- endfor -%}
{%- set key_text = key_parts | join(" || ', ' || ") if key_parts else "cast(null as " ~ dbt.type_string() ~ ")" -%}
{%- set parts = [] -%}
{%- if row_rules %}
    {%- set part -%}
    select
        rule_list.rule_id as rule_order,
        rule_list.rule,
        rule_list.columns,
        case rule_list.rule_id
        {%- for r in row_rules %}
            when {{ loop.index }} then counted.failing_{{ loop.index }}
        {%- endfor %}
        end as failing_rows,
        case rule_list.rule_id
        {%- for r in row_rules %}
            when {{ loop.index }} then counted.first_{{ loop.index }}
        {%- endfor %}
        end as first_example,
        case rule_list.rule_id
        {%- for r in row_rules %}
            when {{ loop.index }} then counted.last_{{ loop.index }}
        {%- endfor %}
        end as last_example
    from (
        select
        {%- for r in row_rules %}
            count(case when {{ r.broken }} then 1 end) as failing_{{ loop.index }},
            min(case when {{ r.broken }} then {{ key_text }} end) as first_{{ loop.index }},
            max(case when {{ r.broken }} then {{ key_text }} end) as last_{{ loop.index }}
            {{- ',' if not loop.last }}
        {%- endfor %}
        from {{ tested }} as tested_rows
    ) as counted
    cross join (
        values
        {%- for r in row_rules %}
            ({{ loop.index }}, '{{ r.rule | replace("'", "''") }}', '{{ r.columns | replace("'", "''") }}'){{ ',' if not loop.last }}
        {%- endfor %}
    ) as rule_list (rule_id, rule, columns)
    {%- endset -%}
    {%- do parts.append(part) -%}
{%- endif -%}
{%- for columns in unique -%}
    {%- set duplicate_key_parts = [] -%}
    {%- for column in columns -%}
        {%- do duplicate_key_parts.append("'" ~ column ~ "=' || coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), 'null')") -%}
    {%- endfor -%}
    {%- set part -%}
    select
        {{ row_rules | length + loop.index }} as rule_order,
        'unique' as rule,
        '{{ columns | join(", ") | replace("'", "''") }}' as columns,
        coalesce(sum(duplicates.n_rows), 0) as failing_rows,
        min(duplicates.key_text) as first_example,
        max(duplicates.key_text) as last_example
    from (
        select {{ duplicate_key_parts | join(" || ', ' || ") }} as key_text, count(*) as n_rows
        from {{ tested }} as tested_rows
        where {% for column in columns %}{{ 'or ' if not loop.first }}{{ column }} is not null {% endfor %}
        group by {{ columns | join(', ') }}
        having count(*) > 1
    ) as duplicates
    {%- endset -%}
    {%- do parts.append(part) -%}
{%- endfor %}
select
    rule,
    columns,
    failing_rows,
    case
        when first_example = last_example then first_example
        else first_example || ' ... ' || last_example
    end as examples
from (
    {%- if parts %}
    {{ parts | join('\n    union all\n') }}
    {%- else %}
    select
        0 as rule_order,
        cast(null as {{ dbt.type_string() }}) as rule,
        cast(null as {{ dbt.type_string() }}) as columns,
        0 as failing_rows,
        cast(null as {{ dbt.type_string() }}) as first_example,
        cast(null as {{ dbt.type_string() }}) as last_example
    {%- endif %}
) as rules
where failing_rows > 0
order by rule_order
{% endtest %}
