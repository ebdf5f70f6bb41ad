-- CEPII GeoDist gravity variables by ISO-3 pair. CEPII keeps a few pre-2000s codes; they are
-- recoded to today's ISO-3 so pairs join to the warehouse's countries.
with

source as (

    select * from {{ source('reference', 'ref_cepii_geodist') }}

),

recoded as (

    select
        *,
        {{ cepii_to_iso3('exporter') }} as exporter_iso3,
        {{ cepii_to_iso3('importer') }} as importer_iso3
    from source

),

final as (

    select
        exporter_iso3,
        importer_iso3,
        cast(contig as integer) = 1 as is_contiguous,
        cast(comlang_off as integer) = 1 as shares_official_language,
        cast(dist as double) as distance_km,
        cast(distw as double) as distance_weighted_km
    from recoded

)

select * from final
