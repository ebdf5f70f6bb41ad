-- One row per delivered Comext row, from every file version (current or superseded), both
-- layouts mapped to one vocabulary: ISO-2 countries (EL -> GR, UK -> GB), flows M/X, CN codes
-- zero-padded to 8 characters, values in EUR and in USD at the ECB monthly average.
with

source as (

    {{ with_file_version(source('comext', 'comext_monthly')) }}

),

ecb_monthly as (

    -- typed here: the raw table holds the rates as text, like every raw table
    select
        cast(month as date) as rate_month,
        cast(usd_per_eur as double) as usd_per_eur
    from {{ source('reference', 'ref_ecb_eur_usd_monthly') }}

),

-- the rate of a monthly period is its month's average; of an annual total (YYYY52) the mean
-- of the year's twelve monthly averages (none until the year is complete)
rates_by_period as (

    select
        {{ format_date('rate_month', '%Y%m') }} as period,
        usd_per_eur
    from ecb_monthly

    union all

    select
        cast(year(rate_month) as {{ dbt.type_string() }}) || '52' as period,
        avg(usd_per_eur) as usd_per_eur
    from ecb_monthly
    group by year(rate_month)
    having count(*) = 12

),

renamed as (

    select
        -- who declares what about whom (layout-specific columns to one vocabulary)
        case
            when _layout = 'dat19' then upper(trim({{ adapter.quote('DECLARANT_ISO') }}))
            else upper(trim({{ adapter.quote('REPORTER') }}))
        end as reporter_iso2_delivered,
        case
            when _layout = 'dat19' then upper(trim({{ adapter.quote('PARTNER_ISO') }}))
            else upper(trim({{ adapter.quote('PARTNER') }}))
        end as partner_iso2_delivered,
        case
            when _layout = 'dat19' then trim({{ adapter.quote('DECLARANT') }})
        end as reporter_eurostat_code,
        case
            when _layout = 'dat19' then trim({{ adapter.quote('PARTNER') }})
        end as partner_eurostat_code,
        trim({{ adapter.quote('TRADE_TYPE') }}) as trade_type,
        case trim({{ adapter.quote('FLOW') }}) when '1' then 'M' when '2' then 'X' end as flow_code,

        -- period
        trim({{ adapter.quote('PERIOD') }}) as period,
        try_cast(left(trim({{ adapter.quote('PERIOD') }}), 4) as integer) as period_year,
        try_cast(right(trim({{ adapter.quote('PERIOD') }}), 2) as integer) as period_month,

        -- product: restore a leading zero lost by spreadsheets (7 digits)
        {%- set product_nc = 'trim(' ~ adapter.quote('PRODUCT_NC') ~ ')' %}
        case
            when {{ regexp_full_match(product_nc, "'[0-9]{7}'") }} then '0' || {{ product_nc }}
            else {{ product_nc }}
        end as cn8,
        case
            when _layout = 'dat19'
                then {{ adapter.quote('STAT_REGIME') }}
            else {{ adapter.quote('STAT_PROCEDURE') }}
        end as stat_regime,
        nullif(
            trim(
                case
                    when _layout = 'dat19'
                        then {{ adapter.quote('SUPP_UNIT') }}
                    else {{ adapter.quote('SUPPL_UNIT') }}
                end
            ),
            ''
        ) as supplementary_unit,

        -- measures (typed at ingest: comext.COLUMN_TYPES)
        case
            when _layout = 'dat19'
                then {{ adapter.quote('VALUE_IN_EUROS') }}
            else {{ adapter.quote('VALUE_EUR') }}
        end as value_eur,
        case
            when _layout = 'dat19'
                then {{ adapter.quote('QUANTITY_IN_KG') }}
            else {{ adapter.quote('QUANTITY_KG') }}
        end as quantity_kg,
        case
            when _layout = 'dat19'
                then {{ adapter.quote('SUP_QUANTITY') }}
            else {{ adapter.quote('QUANTITY_SUPPL_UNIT') }}
        end as supplementary_quantity,
        {{ adapter.quote('VALUE_NAC') }} as value_national_currency,

        -- lineage
        _layout as layout,
        _source_file as source_file,
        _file_sha256 as file_sha256,
        _loaded_at as loaded_at,
        _row_number as source_row_number,
        is_current_file_version

    from source

),

normalised as (

    select
        *,
        case reporter_iso2_delivered
            when 'EL' then 'GR'
            when 'UK' then 'GB'
            else reporter_iso2_delivered
        end as reporter_iso2,
        case partner_iso2_delivered
            when 'EL' then 'GR'
            when 'UK' then 'GB'
            else partner_iso2_delivered
        end as partner_iso2,
        period_month = 52 as is_annual_total,
        case
            when period_month = 52 then make_date(period_year, 1, 1)
            else make_date(period_year, period_month, 1)
        end as period_start,
        case
            when cn8 = 'TOTAL' then 'total'
            when length(cn8) = 2 then 'chapter'
            else 'cn8'
        end as cn_level,
        length(cn8) = 8 and {{ starts_with('cn8', "'99'") }} as is_confidential
    from renamed

),

final as (

    select
        -- who declares what about whom
        normalised.reporter_iso2,
        normalised.partner_iso2,
        normalised.reporter_eurostat_code,
        normalised.partner_eurostat_code,
        normalised.trade_type,
        normalised.flow_code,

        -- period
        normalised.period,
        normalised.period_start,
        normalised.is_annual_total,

        -- product
        normalised.cn8,
        normalised.cn_level,
        case
            when normalised.cn_level = 'cn8' and not normalised.is_confidential
                then left(normalised.cn8, 6)
        end as hs6,
        normalised.is_confidential,
        normalised.stat_regime,
        normalised.supplementary_unit,

        -- measures
        normalised.value_eur,
        normalised.quantity_kg,
        normalised.supplementary_quantity,
        normalised.value_national_currency,
        rates_by_period.usd_per_eur,
        normalised.value_eur * rates_by_period.usd_per_eur as value_usd,

        -- lineage
        normalised.layout,
        normalised.source_file,
        normalised.file_sha256,
        normalised.loaded_at,
        normalised.source_row_number,
        normalised.is_current_file_version

    from normalised
    left join rates_by_period
        on normalised.period = rates_by_period.period

)

select * from final
