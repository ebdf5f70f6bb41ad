"""The code location loads, and its asset graph is the documented one (a snapshot)."""

from __future__ import annotations

import dagster as dg

from dagster_project.definitions import MIRROR_JOB_NAME, defs

EXPECTED_ASSETS = {
    "raw/comtrade_final": "ingest",
    "raw/comext_monthly": "ingest",
    "raw/ref_ecb_eur_usd_monthly": "ingest",
    "staging/stg_comext__monthly": "staging",
    "staging/stg_comtrade__consignment": "staging",
    "raw/eurostat_nrg_ti_coifpm": "ingest",
    "raw/coir_crude_imports": "ingest",
    "reference/coir_country_names": "ingest",
    "staging/stg_eurostat__crude_imports": "staging",
    "staging/stg_coir__crude_imports": "staging",
    "raw/ref_comtrade_country_codes": "ingest",
    "raw/ref_hs2022_products": "ingest",
    "raw/ref_hs_correlations": "ingest",
    "raw/ref_cepii_geodist": "ingest",
    "reference/mirror_tolerances": "ingest",
    "staging/stg_comtrade__final": "staging",
    "staging/stg_reference__country_codes": "staging",
    "staging/stg_reference__hs2022_products": "staging",
    "intermediate/int_comtrade__totals_deduplicated": "intermediate",
    "intermediate/int_comtrade__revisions": "intermediate",
    "intermediate/int_mirror__flows_paired": "intermediate",
    "marts/fct_mirror_trade": "marts",
    "marts/dim_country": "marts",
    "marts/dim_product": "marts",
    "published/mirror_warehouse": "publish",
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
    assert shared == {"raw/file_registry": "ingest", "raw/quarantine": "ingest"}


def test_the_gx_check_is_blocking_and_sits_on_the_mirror_mart() -> None:
    graph = defs.resolve_asset_graph()
    key = dg.AssetCheckKey(dg.AssetKey(["marts", "fct_mirror_trade"]), "gx_fct_mirror_trade")
    assert key in graph.asset_check_keys
    assert graph.get_check_spec(key).blocking


def test_publish_depends_on_every_mart() -> None:
    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey(["published", "mirror_warehouse"])).parent_keys
    assert {k.to_user_string() for k in parents} == {
        "marts/fct_mirror_trade",
        "marts/dim_country",
        "marts/dim_product",
    }


def test_the_job_selects_everything() -> None:
    job = defs.resolve_job_def(MIRROR_JOB_NAME)
    assert job is not None
    assert dg.in_process_executor is defs.executor
