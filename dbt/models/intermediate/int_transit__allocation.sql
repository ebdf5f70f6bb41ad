-- Transit corridors: what the origin declared to the declared partner is attributed to the
-- corridor's importers (the declared partner included) in proportion to their own
-- declarations: customs imports from the origin (brought to FOB), or, where an importer has
-- no customs declaration, its energy-register imports from the origin (crude only; members
-- known from a seed or consignment rows, not from customs deficits alone). A direct
-- declaration of the origin to a corridor importer is kept and only the rest is allocated.
-- Corridors: every applied corridor of int_transit__corridors, detected from the declarations
-- or confirmed by a seed.
with

corridor_members as (

    select * from {{ ref('int_transit__corridors') }}
    where is_applied

),

corridors as (

    select distinct
        corridor_id,
        corridor_source,
        route,
        origin_iso3,
        declared_partner_iso3,
        hs_prefix,
        valid_from,
        valid_to
    from corridor_members

),

members as (

    select
        corridor_id,
        importer_iso3,
        is_declared_partner,
        -- a member known from a seed or from consignment rows is on the route whatever it
        -- declared that period; one known only from coinciding customs deficits is not, and
        -- its energy-register imports (which may have come another way) must not set a share
        member_evidence like '%seed%' or member_evidence like '%consignment%'
            as is_known_beyond_customs
    from corridor_members

),

flows as (

    select * from {{ ref('int_mirror__flows_fob') }}
    where is_country_pair

),

registers as (

    select * from {{ ref('int_energy__crude_imports_by_origin') }}

),

declared as (

    select
        corridors.corridor_id,
        corridors.corridor_source,
        corridors.route,
        flows.freq,
        flows.period,
        flows.period_start,
        flows.hs6,
        flows.exporter_iso3 as origin_iso3,
        flows.importer_iso3 as declared_partner_iso3,
        flows.export_value_usd as declared_export_value_usd,
        flows.cif_fob_margin
    from flows
    inner join corridors
        on
            flows.exporter_iso3 = corridors.origin_iso3
            and flows.importer_iso3 = corridors.declared_partner_iso3
            and {{ starts_with('flows.hs6', 'corridors.hs_prefix') }}
            and (corridors.valid_from is null or flows.period_start >= corridors.valid_from)
            and (corridors.valid_to is null or flows.period_start <= corridors.valid_to)
    where flows.export_value_usd > 0

),

bases as (

    select
        declared.*,
        members.importer_iso3 as attributed_importer_iso3,
        members.is_declared_partner,
        importer.import_value_fob_usd as importer_declared_fob_usd,
        case
            when members.is_declared_partner then 0
            else coalesce(importer.export_value_usd, 0)
        end as direct_export_value_usd,
        register.value_usd / (1 + declared.cif_fob_margin) as register_value_fob_usd
    from declared
    inner join members on declared.corridor_id = members.corridor_id
    left join flows as importer
        on
            declared.freq = importer.freq
            and declared.period = importer.period
            and declared.hs6 = importer.hs6
            and declared.origin_iso3 = importer.exporter_iso3
            and members.importer_iso3 = importer.importer_iso3
    left join registers as register
        on
            declared.freq = register.freq
            and declared.period = register.period
            and declared.origin_iso3 = register.origin_iso3
            and members.importer_iso3 = register.importer_iso3
            and members.is_known_beyond_customs
            and declared.hs6 = '270900'

),

weighted as (

    select
        *,
        case
            when importer_declared_fob_usd is not null then 'customs_imports'
            when register_value_fob_usd is not null then 'energy_register_imports'
            else 'none'
        end as share_source,
        greatest(
            coalesce(importer_declared_fob_usd, register_value_fob_usd, 0)
            - direct_export_value_usd,
            0
        ) as allocation_basis_usd
    from bases

),

final as (

    select
        corridor_id,
        corridor_source,
        route,
        freq,
        period,
        period_start,
        hs6,
        origin_iso3,
        declared_partner_iso3,
        attributed_importer_iso3,
        is_declared_partner,
        declared_export_value_usd,
        direct_export_value_usd,
        share_source,
        allocation_basis_usd,
        allocation_basis_usd
        / nullif(
            sum(allocation_basis_usd) over (partition by corridor_id, freq, period, hs6), 0
        ) as allocation_share,
        direct_export_value_usd
        + declared_export_value_usd * coalesce(
            allocation_basis_usd
            / nullif(
                sum(allocation_basis_usd) over (partition by corridor_id, freq, period, hs6),
                0
            ),
            case when is_declared_partner then 1 else 0 end
        ) as attributed_export_value_usd,
        importer_declared_fob_usd
    from weighted

)

select * from final
