-- The claims on the pools of trade declared to no country (int_unallocated__pools), for
-- int_unallocated__allocation: the flows still unexplained after stage 1, classification and
-- timing (int_mirror__gaps, int_mirror__classification), neither reporter noisy
-- (int_reporter__noise), whose gap runs the pool's way: the exporter declared more than the
-- importer (an importer's pool), or the importer more than the exporter (an exporter's pool);
-- the claim is the excess, d = |M_fob − X| (a missing side as zero).
-- An importer's pool is CIF: a claim meets it at the claim's CIF/FOB factor; an importer whose
-- pool declarations state their value FOB (cifvalue empty, as USA and CAN in Comtrade): FOB
-- against FOB. One row per claim.
-- Built by trailing periods (macro trailing_model_config), as the gaps and classification it reads.
{{ config(**trailing_model_config()) }}

with

gaps as (

    select
        *,
        -- whose pool may hold the missing value: the importer's when the exporter declared
        -- more, else the exporter's
        coalesce(export_value_usd, 0) > coalesce(import_value_fob_usd, 0) as is_import_claim
    from {{ ref('int_mirror__gaps') }}
    where {{ in_trailing_periods() }}

),

classified as (

    select * from {{ ref('int_mirror__classification') }}
    where {{ in_trailing_periods() }}

),

pools as (

    select * from {{ ref('int_unallocated__pools') }}
    where {{ in_trailing_periods() }}

),

import_pool_valuation as (

    -- per importer and period: every import pool of it states its value FOB
    select
        freq,
        period,
        reporter_iso3,
        min(case when is_fob_valued then 1 else 0 end) = 1 as is_fob_valued
    from pools
    where direction = 'import'
    group by all

),

claims as (

    select
        gaps.freq,
        gaps.period,
        gaps.exporter_iso3,
        gaps.importer_iso3,
        gaps.hs6,
        case when gaps.is_import_claim then 'import' else 'export' end as direction,
        case when gaps.is_import_claim then gaps.importer_iso3 else gaps.exporter_iso3 end
            as reporter_iso3,
        case when gaps.is_import_claim then gaps.exporter_iso3 else gaps.importer_iso3 end
            as counterpart_iso3,
        abs(coalesce(gaps.export_value_usd, 0) - coalesce(gaps.import_value_fob_usd, 0))
            as claim_usd,
        -- an importer's pool is CIF: a claim weighs its FOB excess at its own margin (a
        -- pool stated FOB: as it is)
        case
            when
                gaps.is_import_claim
                and not coalesce(import_pool_valuation.is_fob_valued, false)
                then 1 + gaps.cif_fob_margin
            else 1.0
        end as pool_valuation_factor
    from gaps
    left join classified
        on
            gaps.freq = classified.freq
            and gaps.period = classified.period
            and gaps.exporter_iso3 = classified.exporter_iso3
            and gaps.importer_iso3 = classified.importer_iso3
            and gaps.hs6 = classified.hs6
    left join import_pool_valuation
        on
            gaps.freq = import_pool_valuation.freq
            and gaps.period = import_pool_valuation.period
            and gaps.importer_iso3 = import_pool_valuation.reporter_iso3
    where
        gaps.stage_status is null
        and gaps.is_country_pair
        and not gaps.is_confidential
        and classified.hs6 is null
        -- a window that agrees is timing (fct_mirror_trade), not trade booked elsewhere
        and not gaps.is_timing_window_agreed
        -- a noisy reporter's gaps are noise, not trade booked elsewhere: they would take
        -- their share of a pool from the flow it belongs to
        and not gaps.is_noisy_pair

)

select * from claims
