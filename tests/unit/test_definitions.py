"""The code location loads, and its asset graph is the documented one (a snapshot)."""

from __future__ import annotations

import dagster as dg

from dagster_project.definitions import MIRROR_JOB_NAME, defs

EXPECTED_ASSETS = {
    "intermediate/int_cif_fob__margins": "intermediate",
    "intermediate/int_comtrade__revisions": "intermediate",
    "intermediate/int_comtrade__totals_deduplicated": "intermediate",
    "intermediate/int_energy__crude_imports_by_origin": "intermediate",
    "intermediate/int_hs__concordance_to_hs2022": "intermediate",
    "intermediate/int_mirror__classification": "intermediate",
    "intermediate/int_mirror__flows_fob": "intermediate",
    "intermediate/int_mirror__flows_paired": "intermediate",
    "intermediate/int_mirror__gaps": "intermediate",
    "intermediate/int_mirror__timing_windows": "intermediate",
    "intermediate/int_reexport__attribution": "intermediate",
    "intermediate/int_reporter__declared_periods": "intermediate",
    "intermediate/int_reporter__noise": "intermediate",
    "intermediate/int_trade__declarations": "intermediate",
    "intermediate/int_trade__declarations_preferred": "intermediate",
    "intermediate/int_transit__allocation": "intermediate",
    "intermediate/int_transit__consignments": "intermediate",
    "intermediate/int_transit__corridor_evidence": "intermediate",
    "intermediate/int_transit__corridors": "intermediate",
    "intermediate/int_transit__imbalances": "intermediate",
    "intermediate/int_transit__route_members": "intermediate",
    "intermediate/int_unallocated__allocation": "intermediate",
    "marts/dim_country": "marts",
    "marts/dim_product": "marts",
    "marts/fct_crude_import_controls": "marts",
    "marts/fct_declarations": "marts",
    "marts/fct_mirror_trade": "marts",
    "marts/fct_reconciled_trade": "marts",
    "marts/fct_reporter_reliability": "marts",
    "marts/fct_transit_allocation": "marts",
    "marts/fct_transit_corridors": "marts",
    "marts/fct_transit_evidence": "marts",
    "published/mirror_warehouse": "publish",
    "published/report": "publish",
    "published/dbt_docs": "publish",
    "raw/coir_crude_imports": "ingest",
    "raw/comext_monthly": "ingest",
    "raw/comtrade_final": "ingest",
    "raw/eurostat_nrg_ti_coifpm": "ingest",
    "raw/ref_cepii_geodist": "ingest",
    "raw/ref_comtrade_country_codes": "ingest",
    "raw/file_registry": "ingest",
    "raw/ref_ecb_eur_usd_monthly": "ingest",
    "raw/ref_hs2022_products": "ingest",
    "raw/ref_hs_correlations": "ingest",
    "reference/coir_country_names": "ingest",
    "reference/mirror_tolerances": "ingest",
    "reference/transit_corridor_importers": "ingest",
    "reference/transit_corridors": "ingest",
    "staging/stg_coir__crude_imports": "staging",
    "staging/stg_comext__monthly": "staging",
    "staging/stg_comtrade__consignment": "staging",
    "staging/stg_comtrade__final": "staging",
    "staging/stg_eurostat__crude_imports": "staging",
    "staging/stg_reference__cepii_geodist": "staging",
    "staging/stg_reference__country_codes": "staging",
    "staging/stg_reference__hs2022_products": "staging",
    "staging/stg_reference__hs_correlations": "staging",
}


def test_asset_keys_and_groups_are_as_documented() -> None:
    graph = defs.resolve_asset_graph()
    actual = {
        key.to_user_string(): graph.get(key).group_name
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable
    }
    assert actual == EXPECTED_ASSETS
    shared = {
        key.to_user_string(): graph.get(key).group_name
        for key in graph.get_all_asset_keys()
        if not graph.get(key).is_materializable
    }
    assert shared == {"raw/quarantine": "ingest"}
    # the registry is complete (files outside the source folders too) after every ingest
    parents = {
        k.to_user_string() for k in graph.get(dg.AssetKey(["raw", "file_registry"])).parent_keys
    }
    assert parents == {"raw/comtrade_final", "raw/comext_monthly", "raw/eurostat_nrg_ti_coifpm",
                       "raw/coir_crude_imports"}  # fmt: skip


def test_the_gx_check_is_blocking_and_sits_on_the_mirror_mart() -> None:
    graph = defs.resolve_asset_graph()
    key = dg.AssetCheckKey(dg.AssetKey(["marts", "fct_mirror_trade"]), "gx_fct_mirror_trade")
    assert key in graph.asset_check_keys
    assert graph.get_check_spec(key).blocking


def test_publish_depends_on_every_mart() -> None:
    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey(["published", "mirror_warehouse"])).parent_keys
    marts = {key for key, group in EXPECTED_ASSETS.items() if group == "marts"}
    assert {k.to_user_string() for k in parents} == marts


def test_the_job_selects_everything() -> None:
    job = defs.resolve_job_def(MIRROR_JOB_NAME)
    assert job is not None
    assert dg.in_process_executor is defs.executor
