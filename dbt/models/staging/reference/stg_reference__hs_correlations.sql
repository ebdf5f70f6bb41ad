-- UNSD HS correlation tables, one row per (older code -> newer code) link between two
-- consecutive HS editions from 1992 on. Codes lost their leading zeros in the file: restored.
-- Rows of the older SITC-era tables (1988, 1976) and non-numeric codes are left out.
with

source as (

    select * from {{ source('reference', 'ref_hs_correlations') }}

),

renamed as (

    select
        {{ adapter.quote('code.after') }} as code_after_raw,
        {{ adapter.quote('code.before') }} as code_before_raw,
        {{ adapter.quote('Relationship') }} as relationship,
        cast(split_part(adjustment, ' to ', 1) as integer) as hs_year_after,
        cast(split_part(adjustment, ' to ', 2) as integer) as hs_year_before
    from source
    where {{ regexp_full_match('adjustment', "'[0-9]{4} to [0-9]{4}'") }}

),

final as (

    select
        hs_year_before,
        hs_year_after,
        lpad(code_before_raw, 6, '0') as hs6_before,
        lpad(code_after_raw, 6, '0') as hs6_after,
        relationship
    from renamed
    where
        hs_year_before >= 1992
        and {{ regexp_full_match('code_before_raw', "'[0-9]{5,6}'") }}
        and {{ regexp_full_match('code_after_raw', "'[0-9]{5,6}'") }}

)

select distinct * from final
