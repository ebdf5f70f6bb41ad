-- Eurostat nrg_ti_coifpm: one row per importer x crude grade x month (per file version), the
-- two indicators side by side. Confidential (`c`) values are null with the flag set, never 0.
-- Origin = the ISO-2 prefix of the grade code, except codes that are not country-prefixed:
-- emirates (AUH Abu Dhabi, DXB Dubai, SHJ Sharjah -> AE), residual regions (AFR_OTH, ASI_OTH,
-- EUR_OTH, LA_OTH, ME_OTH: LA / ME are Latin America / Middle East, not Laos / Montenegro),
-- TOTAL (all origins), UNK and other 3-letter prefixes (LRS_MED) without an origin country.
with

source as (

    {{ with_file_version(source('eurostat', 'eurostat_nrg_ti_coifpm')) }}

),

renamed as (

    select
        {{ adapter.quote('DATAFLOW') }} as dataflow,
        {{ try_parse_timestamp(adapter.quote('LAST UPDATE'), '%d/%m/%y %H:%M:%S') }} as last_updated_at,
        freq,
        geo as geo_code,
        crudeoil as crude_grade,
        indic_nrg as indicator,
        cast(
            {{ try_parse_timestamp(adapter.quote('TIME_PERIOD') ~ " || '-01'", '%Y-%m-%d') }} as date
        ) as period_month,
        {{ adapter.quote('OBS_FLAG') }} as obs_flag,
        coalesce(contains(lower({{ adapter.quote('OBS_FLAG') }}), 'c'), false) as is_confidential,
        {{ adapter.quote('OBS_VALUE') }} as obs_value,  -- typed at ingest: eurostat.COLUMN_TYPES
        _source_file as source_file,
        _file_sha256 as file_sha256,
        _loaded_at as loaded_at,
        _row_number as source_row_number,
        is_current_file_version
    from source

),

pivoted as (

    select
        geo_code,
        crude_grade,
        period_month,
        source_file,
        file_sha256,
        is_current_file_version,
        max(dataflow) as dataflow,
        max(last_updated_at) as last_updated_at,
        max(loaded_at) as loaded_at,
        -- volume: thousand barrels
        max(case when indicator = 'VOL_THS_BBL' and not is_confidential then obs_value end)
            as volume_thousand_bbl,
        max(case when indicator = 'VOL_THS_BBL' then obs_flag end) as volume_flag,
        coalesce(bool_or(indicator = 'VOL_THS_BBL' and is_confidential), false)
            as is_volume_confidential,
        max(case when indicator = 'VOL_THS_BBL' then source_row_number end)
            as volume_source_row_number,
        -- value: thousand USD
        max(case when indicator = 'VAL_THS_USD' and not is_confidential then obs_value end)
            as value_thousand_usd,
        max(case when indicator = 'VAL_THS_USD' then obs_flag end) as value_flag,
        coalesce(bool_or(indicator = 'VAL_THS_USD' and is_confidential), false)
            as is_value_confidential,
        max(case when indicator = 'VAL_THS_USD' then source_row_number end)
            as value_source_row_number
    from renamed
    where indicator in ('VOL_THS_BBL', 'VAL_THS_USD')
    group by
        geo_code,
        crude_grade,
        period_month,
        source_file,
        file_sha256,
        is_current_file_version

),

final as (

    select
        geo_code,
        case
            when geo_code = 'EL' then 'GR'
            when geo_code = 'UK' then 'GB'
            when {{ regexp_full_match('geo_code', "'[A-Z]{2}'") }} then geo_code
        end as importer_iso2,
        not {{ regexp_full_match('geo_code', "'[A-Z]{2}'") }} as is_aggregate,
        crude_grade,
        case
            when crude_grade = 'TOTAL' then 'total'
            when crude_grade in ('AFR_OTH', 'ASI_OTH', 'EUR_OTH', 'LA_OTH', 'ME_OTH')
                then 'region_residual'
            when {{ regexp_contains('crude_grade', "'^(AUH|DXB|SHJ)[_-]'") }} then 'emirate'
            when {{ regexp_contains('crude_grade', "'^[A-Z]{2}[_-]'") }} then 'country'
            else 'unknown'
        end as origin_kind,
        case
            when crude_grade in ('LA_OTH', 'ME_OTH') then null
            when {{ regexp_contains('crude_grade', "'^(AUH|DXB|SHJ)[_-]'") }} then 'AE'
            when {{ regexp_contains('crude_grade', "'^UK[_-]'") }} then 'GB'
            when {{ regexp_contains('crude_grade', "'^EL[_-]'") }} then 'GR'
            when {{ regexp_contains('crude_grade', "'^[A-Z]{2}[_-]'") }} then left(crude_grade, 2)
        end as origin_iso2,
        period_month,
        volume_thousand_bbl,
        value_thousand_usd,
        volume_flag,
        value_flag,
        is_volume_confidential,
        is_value_confidential,
        dataflow,
        last_updated_at,
        source_file,
        file_sha256,
        volume_source_row_number,
        value_source_row_number,
        loaded_at,
        is_current_file_version
    from pivoted

)

select * from final
