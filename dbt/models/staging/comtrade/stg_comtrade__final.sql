-- One row per delivered Comtrade row, from every file version (current or superseded):
-- renamed (raw is typed at ingest: comtrade.COLUMN_TYPES), with the breakdown flag and
-- whether its file version is current.
-- Nothing is filtered here; revisions are resolved in intermediate.
with

source as (

    {{ with_file_version(source('comtrade', 'comtrade_final')) }}

),

renamed as (

    select
        -- period
        {{ adapter.quote('freqCode') }} as freq,
        period,
        {{ adapter.quote('refYear') }} as ref_year,
        {{ adapter.quote('refMonth') }} as ref_month,

        -- who declares what about whom
        {{ adapter.quote('reporterCode') }} as reporter_code,
        {{ adapter.quote('reporterISO') }} as reporter_iso3_delivered,
        {{ adapter.quote('flowCode') }} as flow_code,
        {{ adapter.quote('partnerCode') }} as partner_code,
        {{ adapter.quote('partnerISO') }} as partner_iso3_delivered,
        {{ adapter.quote('partner2Code') }} as partner2_code,

        -- product: HS codes are strings; restore a leading zero lost by spreadsheets
        {{ adapter.quote('classificationCode') }} as classification_code,
        case
            when
                {{ regexp_full_match(adapter.quote('cmdCode'), "'[0-9]{5}'") }}
                and {{ adapter.quote('aggrLevel') }} = 6
                then '0' || {{ adapter.quote('cmdCode') }}
            else {{ adapter.quote('cmdCode') }}
        end as cmd_code,
        {{ adapter.quote('aggrLevel') }} as aggr_level,

        -- breakdown dimensions (totals: C00 / 0 / 0 / partner2 0)
        {{ adapter.quote('customsCode') }} as customs_code,
        {{ adapter.quote('mosCode') }} as mos_code,
        {{ adapter.quote('motCode') }} as mot_code,

        -- measures
        {{ adapter.quote('qtyUnitCode') }} as qty_unit_code,
        qty,
        {{ adapter.quote('netWgt') }} as net_weight_kg,
        {{ adapter.quote('grossWgt') }} as gross_weight_kg,
        cifvalue as cif_value_usd,
        fobvalue as fob_value_usd,
        {{ adapter.quote('primaryValue') }} as primary_value_usd,
        {{ adapter.quote('isReported') }} as is_reported,
        {{ adapter.quote('isAggregate') }} as is_aggregate,

        -- lineage
        _source_file as source_file,
        _file_sha256 as file_sha256,
        _file_release_date as file_release_date,
        _loaded_at as loaded_at,
        _row_number as source_row_number,
        is_current_file_version

    from source

),

final as (

    select
        *,
        case
            when freq = 'M' then make_date(ref_year, ref_month, 1)
            when freq = 'A' then make_date(ref_year, 1, 1)
        end as period_start,
        coalesce(customs_code, 'C00') <> 'C00'
        or coalesce(mot_code, 0) <> 0
        or coalesce(mos_code, 0) <> 0
        or coalesce(partner2_code, 0) <> 0 as is_breakdown
    from renamed

)

select * from final
