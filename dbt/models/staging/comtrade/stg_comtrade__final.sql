-- One row per delivered Comtrade row, from every file version (current or superseded):
-- typed, renamed, with the breakdown flag and whether its file version is current.
-- Nothing is filtered here; revisions are resolved in intermediate.
with

source as (

    {{ with_file_version(source('comtrade', 'comtrade_final')) }}

),

renamed as (

    select
        -- period
        "freqCode" as freq,
        period,
        try_cast("refYear" as integer) as ref_year,
        try_cast("refMonth" as integer) as ref_month,

        -- who declares what about whom
        try_cast("reporterCode" as integer) as reporter_code,
        "reporterISO" as reporter_iso3_delivered,
        "flowCode" as flow_code,
        try_cast("partnerCode" as integer) as partner_code,
        "partnerISO" as partner_iso3_delivered,
        try_cast("partner2Code" as integer) as partner2_code,

        -- product: HS codes are strings; restore a leading zero lost by spreadsheets
        "classificationCode" as classification_code,
        case
            when regexp_full_match("cmdCode", '[0-9]{5}') and "aggrLevel" = '6'
                then '0' || "cmdCode"
            else "cmdCode"
        end as cmd_code,
        try_cast("aggrLevel" as integer) as aggr_level,

        -- breakdown dimensions (totals: C00 / 0 / 0 / partner2 0)
        "customsCode" as customs_code,
        try_cast("mosCode" as integer) as mos_code,
        try_cast("motCode" as integer) as mot_code,

        -- measures
        try_cast("qtyUnitCode" as integer) as qty_unit_code,
        try_cast(qty as double) as qty,
        try_cast("netWgt" as double) as net_weight_kg,
        try_cast("grossWgt" as double) as gross_weight_kg,
        try_cast(cifvalue as double) as cif_value_usd,
        try_cast(fobvalue as double) as fob_value_usd,
        try_cast("primaryValue" as double) as primary_value_usd,
        try_cast("isReported" as boolean) as is_reported,
        try_cast("isAggregate" as boolean) as is_aggregate,

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
