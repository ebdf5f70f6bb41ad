-- Importer-side control totals for crude oil from the energy registers, one row per importer
-- × origin × month (and × year, the sum of the months): volume in thousand barrels and value
-- in USD (CIF). Eurostat nrg_ti_coifpm wins over the DG Energy COIR workbooks, which win over
-- the COIR flat CSV, for the same month. Confidential cells stay unknown (never zero).
with

countries as (

    select
        iso2,
        iso3
    from {{ ref('stg_reference__country_codes') }}
    where area_type = 'country'

),

eurostat as (

    select
        'eurostat_nrg_ti_coifpm' as register,
        1 as register_rank,
        importer_iso2,
        origin_iso2,
        period_month,
        sum(volume_thousand_bbl) as volume_thousand_bbl,
        sum(value_thousand_usd) * 1000 as value_usd,
        bool_or(is_volume_confidential or is_value_confidential) as has_confidential_cells
    from {{ ref('stg_eurostat__crude_imports') }}
    where
        is_current_file_version
        and not is_aggregate
        and origin_kind in ('country', 'emirate')
    group by importer_iso2, origin_iso2, period_month

),

coir as (

    select
        case when layout = 'xlsx_sheet' then 'coir_workbook' else 'coir_flat_csv' end
            as register,
        case when layout = 'xlsx_sheet' then 2 else 3 end as register_rank,
        reporter_iso2 as importer_iso2,
        origin_iso2,
        period_month,
        sum(volume_thousand_bbl) as volume_thousand_bbl,
        sum(value_thousand_usd) * 1000 as value_usd,
        bool_or(is_value_confidential) as has_confidential_cells
    from {{ ref('stg_coir__crude_imports') }}
    where
        is_current_file_version
        and row_kind = 'detail'
        and period_type = 'monthly'
        and origin_iso2 is not null
        and reporter_iso2 is not null
    group by layout, reporter_iso2, origin_iso2, period_month

),

monthly as (

    select * from eurostat
    union all
    select * from coir
    qualify row_number() over (
        partition by importer_iso2, origin_iso2, period_month order by register_rank
    ) = 1

),

located as (

    select
        importer.iso3 as importer_iso3,
        origin.iso3 as origin_iso3,
        monthly.*
    from monthly
    inner join countries as importer on monthly.importer_iso2 = importer.iso2
    inner join countries as origin on monthly.origin_iso2 = origin.iso2

),

final as (

    select
        'M' as freq,
        {{ format_date('period_month', '%Y%m') }} as period,
        period_month as period_start,
        importer_iso3,
        origin_iso3,
        register,
        volume_thousand_bbl,
        value_usd,
        has_confidential_cells
    from located

    union all

    select
        'A' as freq,
        cast(year(period_month) as {{ dbt.type_string() }}) as period,
        make_date(year(period_month), 1, 1) as period_start,
        importer_iso3,
        origin_iso3,
        {{ string_agg_sorted('register', "'+'", distinct=true) }} as register,
        sum(volume_thousand_bbl) as volume_thousand_bbl,
        sum(value_usd) as value_usd,
        bool_or(has_confidential_cells) or count(*) < 12 as has_confidential_cells
    from located
    group by importer_iso3, origin_iso3, year(period_month)

)

select * from final
