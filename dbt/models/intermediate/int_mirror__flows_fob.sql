-- The paired flows with the importer's CIF value brought to FOB by the pair's CIF/FOB margin
-- (int_cif_fob__margins): the common input of the gap, timing and transit models.
with

paired as (

    select * from {{ ref('int_mirror__flows_paired') }}

),

margins as (

    select * from {{ ref('int_cif_fob__margins') }}

),

final as (

    select
        paired.*,  -- noqa: AM04
        left(paired.hs6, 2) as hs_chapter,
        coalesce(margins.cif_fob_method, 'fixed_factor') as cif_fob_method,
        coalesce(margins.cif_fob_margin, cast({{ var('cif_fob_factor') }} as double) - 1)
            as cif_fob_margin,
        paired.import_value_usd
        / (1 + coalesce(margins.cif_fob_margin, cast({{ var('cif_fob_factor') }} as double) - 1))
            as import_value_fob_usd
    from paired
    left join margins
        on
            paired.exporter_iso3 = margins.exporter_iso3
            and paired.importer_iso3 = margins.importer_iso3
            and left(paired.hs6, 2) = margins.hs_chapter

)

select * from final  -- noqa: AM04
