{#- The Spark targets' runtime (docs/spark.md): what dbt does on Spark besides the models.
    Every macro here is a no-op on DuckDB.

    Why inside dbt: with `method: session` Spark runs in the dbt process, and spark_local's
    Derby metastore admits one process at a time, so the raw tables are registered and the
    outputs written by dbt's own session (on-run-start / on-run-end hooks in
    dbt_project.yml), never by a second SparkSession in the Dagster process. -#}


{#- The folder `mirror` shares with Spark (settings.HomeLayout.spark_dir): raw/ (written by
    Dagster from the typed raw tables), out/ (written here, read back by Dagster). -#}
{% macro spark_dir() -%}
    {{ return(env_var('MIRROR_SPARK_DIR', '../warehouse/spark')) }}
{%- endmacro %}


{#- on-run-start: every dbt source table (the typed raw tables, the file registry) as a
    Spark table over the Parquet folder `mirror` exported it to (dagster_project/transform/
    spark.py). Replaced every run: the table is external, dropping it keeps the files, and
    the folder holds this run's export. -#}
{% macro spark_register_raw() -%}
    {%- if execute and target.type == 'spark' -%}
        {%- set schemas = [] -%}
        {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
            {%- if source.schema not in schemas -%}
                {%- do schemas.append(source.schema) -%}
                {%- do run_query('create schema if not exists ' ~ source.schema) -%}
            {%- endif -%}
            {%- set table = source.schema ~ '.' ~ (source.identifier or source.name) -%}
            {%- set location = spark_dir() ~ '/raw/' ~ (source.identifier or source.name) -%}
            {%- do run_query('drop table if exists ' ~ table) -%}
            {%- do run_query("create table " ~ table ~ " using parquet location '" ~ location ~ "'") -%}
        {%- endfor -%}
        {%- do log('mirror: registered ' ~ (graph.sources | length) ~ ' raw tables from ' ~ spark_dir() ~ '/raw', info=true) -%}
    {%- endif -%}
{%- endmacro %}


{#- on-run-end of `dbt build` / `dbt run`: every mart and report table built successfully,
    as Parquet in out/<schema>/<table>/, which Dagster loads into the working DuckDB
    warehouse for the GX checks, the publication and the report. -#}
{% macro spark_export_outputs(results) -%}
    {%- if execute and target.type == 'spark' and flags.WHICH in ('build', 'run') -%}
        {%- for result in results -%}
            {%- set node = result.node -%}
            {%- if node.resource_type == 'model' and node.schema in ('marts', 'report')
                  and result.status == 'success' -%}
                {%- do run_query(
                    "insert overwrite directory '" ~ spark_dir() ~ "/out/" ~ node.schema ~ "/"
                    ~ node.name ~ "' using parquet select * from " ~ node.schema ~ "." ~ node.name
                ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}


{#- dbt-spark's seed loader, with literals instead of bindings: in session mode a NULL
    binding becomes the string 'None' (dbt-labs/dbt-adapters#487), and the seeds have empty
    cells (transit_corridors.valid_to, ...). Same statements otherwise: one insert per batch,
    every value cast to the column's type. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set batch_size = get_batch_size() -%}
    {%- set types = spark_seed_column_types(model, agate_table) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(batch_size) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for value in row -%}
                    {%- if value is none -%}
                        cast(null as {{ types[loop.index0] }})
                    {%- else -%}
                        cast('{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}' as {{ types[loop.index0] }})
                    {%- endif -%}
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.index0 == 0 -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0]) }}
{% endmacro %}


{#- The type of each seed column on Spark: the seed's column_types (written for both engines:
    `varchar` without a length, which Spark refuses, is its `string`), else dbt-spark's guess -#}
{% macro spark_seed_column_types(model, agate_table) -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for col_name in agate_table.column_names -%}
        {%- set type = column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) -%}
        {%- do types.append('string' if type | lower in ('varchar', 'text') else type) -%}
    {%- endfor -%}
    {{ return(types) }}
{%- endmacro %}


{#- dbt-spark's create_csv_table with the column types above -#}
{% macro spark__create_csv_table(model, agate_table) %}
    {%- set quote_seed_column = model['config'].get('quote_columns', None) -%}
    {%- set types = spark_seed_column_types(model, agate_table) -%}
    {%- set sql -%}
        create table {{ this.render() }} (
            {%- for col_name in agate_table.column_names -%}
                {{ adapter.quote_seed_column(col_name | string, quote_seed_column) }} {{ types[loop.index0] }}
                {%- if not loop.last -%}, {%- endif -%}
            {%- endfor -%}
        )
        {{ file_format_clause() }}
        {{ partition_cols(label="partitioned by") }}
        {{ clustered_cols(label="clustered by") }}
        {{ location_clause() }}
        {{ comment_clause() }}
    {%- endset -%}
    {%- call statement('_') -%}
        {{ sql }}
    {%- endcall -%}
    {{ return(sql) }}
{% endmacro %}
