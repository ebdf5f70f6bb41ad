-- What accounts for the annual gaps that are not plain agreement, by explanation: a transit
-- corridor (labelled by its id, with its route), else a modelled explanation or a reason no
-- gap is judged (labelled by the status). Unexplained gaps outside corridors are not here
-- (rpt_unexplained_gaps): the report labels the waived ones by their waiver when it reads.
with

flows as (

    select
        *,
        coalesce(abs(residual_gap_pct) > tolerance_pct, false) as is_unexplained,
        -- matched by something else than the declarations of the exact period: transit,
        -- re-exports, timing, classification, unallocated (not the CIF/FOB margin alone)
        match_kind not in ('exact_period', 'none') as is_explained
    from {{ ref('fct_mirror_trade') }}
    where freq = 'A' and status <> 'ok'

),

accounted_for as (

    select
        coalesce(corridor_id, status) as explained_by,
        case when corridor_id is not null then 'corridor' else 'status' end as explained_by_kind,
        *
    from flows
    where
        corridor_id is not null
        or (not is_unexplained and (is_explained or declared_sides <> 'both'))

),

corridors as (

    select
        corridor_id,
        route
    from {{ ref('fct_transit_corridors') }}

),

final as (

    select
        accounted_for.explained_by,
        accounted_for.explained_by_kind,
        any_value(corridors.route) as corridor_route,
        accounted_for.status,
        accounted_for.exporter_iso3,
        accounted_for.importer_iso3,
        accounted_for.hs6,
        count(*) as years,
        min(accounted_for.period) as first_period,
        max(accounted_for.period) as last_period,
        sum(accounted_for.export_value_usd) as export_value_usd,
        sum(accounted_for.import_value_fob_usd) as import_value_fob_usd,
        sum(coalesce(accounted_for.import_value_fob_usd, 0))
        - sum(coalesce(accounted_for.export_value_usd, 0)) as gap_usd
    from accounted_for
    left join corridors on accounted_for.corridor_id = corridors.corridor_id
    group by
        accounted_for.explained_by,
        accounted_for.explained_by_kind,
        accounted_for.status,
        accounted_for.exporter_iso3,
        accounted_for.importer_iso3,
        accounted_for.hs6

)

select * from final
