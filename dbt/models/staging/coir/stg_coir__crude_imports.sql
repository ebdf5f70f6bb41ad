-- DG Energy Crude Oil Imports Register: one row per delivered record (reporting country x
-- origin x crude type x period, plus the register's `Sum:` and `World` rows), from both
-- layouts and every file version. Nothing is filtered: the same month can come from a
-- workbook's monthly sheet, its annual sheet and the flattened CSV; `layout`, `period_type`
-- and `row_kind` tell them apart so a sum never counts a barrel twice.
with

source as (

    {{ with_file_version(source('coir', 'coir_crude_imports')) }}

),

country_names as (

    select
        lower(trim(coir_name)) as name_key,
        iso2,
        area_type
    from {{ ref('coir_country_names') }}

),

renamed as (

    select
        -- where and when
        _layout as layout,
        _sheet_name as sheet_name,
        _sheet_period as sheet_period,
        _period_type as period_type,
        _period_start as period_start,
        _period_end as period_end,
        _row_kind as row_kind,

        -- who imports what from whom
        {{ adapter.quote('Reporting Country') }} as reporter_name,
        _reporter_filled as is_reporter_forward_filled,
        {{ adapter.quote('Country of Origin') }} as origin_name,
        {{ adapter.quote('Type of crude oil') }} as crude_type,

        -- measures as delivered: thousand barrels, thousand USD (CIF), USD per barrel
        try_cast({{ adapter.quote('Volume (1000 bbl)') }} as double) as volume_thousand_bbl,
        try_cast({{ adapter.quote('Total Value ($ 1000)') }} as double) as value_thousand_usd,
        try_cast({{ adapter.quote('CIF price (2) ($/bbl)') }} as double) as cif_price_usd_per_bbl,
        try_cast({{ adapter.quote('Pct of Total Imports') }} as double) as share_of_eu_imports,
        -- workbook: footnote marker (3); flattened CSV: the marker became an empty cell
        coalesce(
            trim({{ adapter.quote('Total Value ($ 1000)') }}) = '(3)'
            or (_layout = 'flat_csv' and {{ adapter.quote('Total Value ($ 1000)') }} is null),
            false
        ) as is_value_confidential,
        coalesce(
            trim({{ adapter.quote('CIF price (2) ($/bbl)') }}) = '(3)'
            or (_layout = 'flat_csv' and {{ adapter.quote('CIF price (2) ($/bbl)') }} is null),
            false
        ) as is_price_confidential,

        -- lineage
        _source_file as source_file,
        _file_sha256 as file_sha256,
        _loaded_at as loaded_at,
        _row_number as source_row_number,
        is_current_file_version

    from source

),

final as (

    select
        renamed.*,
        case when renamed.period_type = 'monthly' then renamed.period_start end as period_month,
        year(renamed.period_start) as period_year,
        reporters.iso2 as reporter_iso2,
        origins.iso2 as origin_iso2,
        origins.area_type as origin_area_type
    from renamed
    left join country_names as reporters
        on lower(trim(renamed.reporter_name)) = reporters.name_key
    left join country_names as origins
        on lower(trim(renamed.origin_name)) = origins.name_key

)

select * from final
