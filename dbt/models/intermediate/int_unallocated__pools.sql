-- Trade declared to no country, to be allocated to the flows it most likely belongs to (BACI's
-- treatment of "Areas, nes"; Gaulier & Zignago 2010): the pools of int_unallocated__allocation.
-- An importer that books imports to a non-country partner (Comtrade 899 "Areas, nes", 839
-- "Special categories", 837 bunkers, 838 free zones, regional "nes" areas) leaves its partners'
-- exports to it unmatched; an exporter that declares exports to such a partner leaves its
-- partners' imports unmatched; a Comext confidential code (CN8 `99CC....`, chapter CC) hides
-- the product, not the partner.
-- Pools: those declarations, per reporter × freq × period × direction (what the importer
-- booked as imports, CIF; what the exporter declared as exports, FOB). One row per
-- declaration.
-- Built by period (macro period_model_config): a pool is one period's declarations.
{{ config(**period_model_config()) }}

with

declarations as (

    select * from {{ ref('int_trade__declarations_preferred') }}
    where flow_code in ('X', 'M') and {{ in_build_periods() }}

),

pools as (

    select
        freq,
        period,
        case flow_code when 'M' then 'import' else 'export' end as direction,
        reporter_iso3,
        -- a confidential code hides the product, not the partner: only that partner's flows
        case
            when partner_area_type = 'country' then partner_iso3
        end as pool_partner_iso3,
        partner_iso3 as declared_partner_iso3,
        case
            when is_confidential then 'confidential'
            when partner_area_type <> 'country' then 'nes'
            else 'unspecified'
        end as pool_kind,
        -- the HS code the pool names: HS6 for a nes partner, the chapter of a Comext `99CC`
        -- code, none for Comtrade's chapter 99 (commodities not specified according to kind)
        case
            when is_confidential then substr(hs6, 3, 2)
            when partner_area_type <> 'country' then hs6
            else ''
        end as pool_code,
        hs6 as declared_code,
        value_usd as pool_value_usd,
        -- an import declared at its FOB value only (no CIF value stated)
        coalesce(
            flow_code = 'M' and cif_value_usd is null and fob_value_usd is not null, false
        ) as is_fob_valued
    from declarations
    where
        value_usd > 0
        and reporter_iso3 not like '#%'
        and (
            is_confidential
            or partner_area_type <> 'country'
            or left(hs6, 2) = '99'
        )

)

select * from pools
