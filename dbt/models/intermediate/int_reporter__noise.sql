{{ config(**estimate_config()) }}

-- How noisy each reporter's declarations are, per reporter × freq × year: the spread of the
-- log discrepancy between what the reporter declared and what its partners declared for the
-- same flows (both sides declared, CIF brought to FOB, transit corridors attributed).
-- Measured from the reporter's side, ln(partner's declaration / reporter's own), so a reporter
-- that values everything a fixed share lower has a shifted centre, not a spread. The spread is
-- the median absolute deviation (MAD), unweighted: every declaration is one draw of the
-- reporter's recording error, and the few flows a real distortion touches (a corridor, a
-- misclassification, a shipment declared a month late) move a median hardly at all, where a
-- value-weighted or squared measure would let them dominate.
-- `is_noisy`: the MAD exceeds var timing_noisy_reporter_mad_ratio × the median MAD of the
-- reporters of the same freq and year (and var timing_noisy_reporter_min_mad), on at least
-- var timing_noisy_reporter_min_flows flows. fct_mirror_trade does not let timing explain a
-- gap of a noisy reporter: its gaps cancelling over a window is likely chance.
-- (fct_reporter_reliability is computed from fct_mirror_trade's statuses: it cannot feed them.)
with

flows as (

    select * from {{ ref('int_mirror__flows_fob') }}
    where is_country_pair and not is_confidential

),

transit as (

    select * from {{ ref('int_transit__allocation') }}

),

renamed as (

    select
        flows.freq,
        year(flows.period_start) as period_year,
        flows.exporter_iso3,
        flows.importer_iso3,
        flows.import_value_fob_usd,
        -- in a corridor the exporter's declaration is compared once attributed (§5)
        coalesce(transit.attributed_export_value_usd, flows.export_value_usd) as export_value_usd
    from flows
    left join transit
        on
            flows.freq = transit.freq
            and flows.period = transit.period
            and flows.hs6 = transit.hs6
            and flows.exporter_iso3 = transit.origin_iso3
            and flows.importer_iso3 = transit.attributed_importer_iso3

),

discrepancies as (

    select
        freq,
        period_year,
        exporter_iso3,
        importer_iso3,
        ln(import_value_fob_usd / export_value_usd) as log_discrepancy
    from renamed
    where import_value_fob_usd > 0 and export_value_usd > 0

),

by_reporter as (

    select
        exporter_iso3 as reporter_iso3,
        freq,
        period_year,
        log_discrepancy as partner_log_ratio
    from discrepancies

    union all

    select
        importer_iso3 as reporter_iso3,
        freq,
        period_year,
        -log_discrepancy as partner_log_ratio
    from discrepancies

),

dispersion as (

    select
        reporter_iso3,
        freq,
        period_year,
        count(*) as flows,
        median(partner_log_ratio) as median_log_ratio,
        {{ mad("partner_log_ratio") }} as mad_log_ratio
    from by_reporter
    group by reporter_iso3, freq, period_year

),

-- the typical reporter: median MAD of the reporters with enough flows to be judged
typical as (

    select
        freq,
        period_year,
        count(*) as judged_reporters,
        median(mad_log_ratio) as typical_mad_log_ratio
    from dispersion
    where flows >= {{ var('timing_noisy_reporter_min_flows') }}
    group by freq, period_year

),

scored as (

    select
        dispersion.reporter_iso3,
        dispersion.freq,
        dispersion.period_year,
        dispersion.flows,
        {{ round_exact('dispersion.median_log_ratio', 6) }} + 0 as median_log_ratio,  -- + 0: no -0.0
        {{ round_exact('dispersion.mad_log_ratio', 6) }} as mad_log_ratio,
        {{ round_exact('typical.typical_mad_log_ratio', 6) }} as typical_mad_log_ratio,
        typical.judged_reporters,
        {% call round_exact(digits=6) %}greatest(
                {{ var('timing_noisy_reporter_mad_ratio') }} * typical.typical_mad_log_ratio,
                {{ var('timing_noisy_reporter_min_mad') }}
            ){% endcall %} as noise_threshold
    from dispersion
    left join typical
        on
            dispersion.freq = typical.freq
            and dispersion.period_year = typical.period_year

),

final as (

    select
        *,
        {{ round_exact('mad_log_ratio / nullif(typical_mad_log_ratio, 0)', 4) }} as noise_ratio,
        -- decided on the rounded values, so the published numbers and the flag always agree
        coalesce(
            flows >= {{ var('timing_noisy_reporter_min_flows') }}
            and mad_log_ratio > noise_threshold,
            false
        ) as is_noisy
    from scored

)

select
    *,
    {{ estimate_vintage() }} as estimate_vintage
from final
{{ keep_existing_estimate() }}
