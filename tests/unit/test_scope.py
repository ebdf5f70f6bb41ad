"""What a planned build selects (transform/scope.py): the assets downstream of the raw tables
of the sources whose files changed, the file registry not counting as a way down, the kept
estimates left out."""

from __future__ import annotations

from types import SimpleNamespace

import dagster as dg

from dagster_project.transform.build_plan import BuildPlan
from dagster_project.transform.scope import (
    ESTIMATE_TAG,
    downstream_of_sources,
    left_behind,
    planned_selection,
)


def _spec(key: str, *deps: str, estimate: bool = False) -> dg.AssetSpec:
    return dg.AssetSpec(
        dg.AssetKey(key.split("/")),
        deps=[dg.AssetKey(d.split("/")) for d in deps],
        tags={ESTIMATE_TAG: ""} if estimate else None,
    )


# a small graph shaped like the warehouse's: two landing sources, a reference table, the
# registry after every ingest, staging views that read it, an estimate, a mart, the publication
SPECS = [
    _spec("raw/file_registry", "raw/comtrade_final", "raw/comext_monthly", "raw/ref_hs"),
    _spec("staging/stg_comtrade", "raw/comtrade_final", "raw/file_registry"),
    _spec("staging/stg_comext", "raw/comext_monthly", "raw/file_registry"),
    _spec("staging/stg_hs", "raw/ref_hs"),
    _spec("marts/dim_product", "staging/stg_hs"),
    _spec("intermediate/declarations", "staging/stg_comtrade", "staging/stg_comext"),
    _spec("intermediate/margins", "intermediate/declarations", estimate=True),
    _spec("marts/fct_mirror", "intermediate/declarations", "intermediate/margins"),
    _spec("published/warehouse", "marts/fct_mirror", "marts/dim_product"),
]
SOME_PERIODS = BuildPlan(
    "periods", "1 file version(s) changed", (("M", "202303"),), sources=("comtrade",)
)


def _keys(*names: str) -> set[dg.AssetKey]:
    return {dg.AssetKey(n.split("/")) for n in names}


def test_what_reads_a_changed_source_directly_or_not_is_downstream() -> None:
    comtrade_chain = ("intermediate/declarations", "intermediate/margins", "marts/fct_mirror")
    assert downstream_of_sources(SPECS, ["comtrade"]) == _keys(
        "staging/stg_comtrade", *comtrade_chain, "published/warehouse"
    )
    assert downstream_of_sources(SPECS, ["comtrade", "comext"]) == _keys(
        "staging/stg_comtrade", "staging/stg_comext", *comtrade_chain, "published/warehouse"
    )


def test_the_registry_is_not_a_way_down() -> None:
    """Every staging view reads the registry, but a view of another source reads only its own
    source's rows of it: a Comtrade file changes nothing Comext's view returns."""
    assert _keys("staging/stg_comext") - downstream_of_sources(SPECS, ["comtrade"])
    assert not _keys("raw/file_registry") & downstream_of_sources(SPECS, ["comtrade"])


def test_only_a_plan_of_some_periods_with_changed_rows_selects_less_than_everything() -> None:
    downstream = downstream_of_sources(SPECS, ["comtrade"])
    # the estimates are kept by a build of some periods (DuckDB): nothing of theirs to build
    kept = planned_selection(SOME_PERIODS, SPECS, keeps_estimates=True)
    assert kept == downstream - _keys("intermediate/margins")
    # Spark rebuilds every table it builds, the estimates too
    assert planned_selection(SOME_PERIODS, SPECS, keeps_estimates=False) == downstream
    for every in (
        BuildPlan("periods", "nothing changed"),
        BuildPlan("all_periods", "asked"),
        BuildPlan("refresh", "asked", estimate_vintage="v"),
    ):
        assert planned_selection(every, SPECS, keeps_estimates=True) is None


def test_mirror_run_leaves_out_what_a_comtrade_file_cannot_change() -> None:
    """On the real transform job: a revised Comtrade file rebuilds the chain from Comtrade's
    raw table to the publication, and leaves the seeds, the reference tables and what is made
    of them only, the other landing sources' staging and the kept estimates as they are."""
    from dagster_project.cli import _planned_selection
    from dagster_project.definitions import defs
    from dagster_project.jobs import TRANSFORM_JOB_NAME

    job = defs.resolve_job_def(TRANSFORM_JOB_NAME)
    every = set(job.asset_layer.selected_asset_keys)
    selected = set(_planned_selection(job, SOME_PERIODS, keeps_estimates=True) or [])
    assert selected < every
    assert (
        _keys(
            "staging/stg_comtrade__final",
            "marts/fct_mirror_trade",
            "marts/fct_declarations",
            "report/rpt_unexplained_gaps",
            "published/mirror_warehouse",
            "published/report",
        )
        <= selected
    )
    left_out = {"/".join(k.path) for k in every - selected}
    assert left_out == {
        "reference/mirror_tolerances",
        "reference/coir_country_names",
        "reference/transit_corridors",
        "reference/transit_corridor_importers",
        "staging/stg_reference__country_codes",
        "staging/stg_reference__hs2022_products",
        "staging/stg_reference__hs_correlations",
        "staging/stg_reference__cepii_geodist",
        "intermediate/int_hs__concordance_to_hs2022",
        "marts/dim_country",
        "marts/dim_product",
        "report/rpt_code_names",
        "staging/stg_comext__monthly",
        "staging/stg_coir__crude_imports",
        "staging/stg_eurostat__crude_imports",
        "intermediate/int_energy__crude_imports_by_origin",
        # the estimates (dbt tag estimate), kept between refreshes
        "intermediate/int_cif_fob__margins",
        "intermediate/int_reporter__noise",
        "intermediate/int_transit__corridors",
        "intermediate/int_transit__corridor_evidence",
        "intermediate/int_transit__route_members",
        "marts/fct_reporter_reliability",
    }
    everything = _planned_selection(job, BuildPlan("all_periods", "asked"), keeps_estimates=True)
    assert everything is None


def test_a_run_is_a_complete_build_when_it_selected_what_the_plan_needs() -> None:
    """The dbt step records a subset run as a complete build (the next plans from it) only when
    it selected every asset the plan needs: a run of a few models from the UI is not one."""
    from dagster_project.transform.assets import _selects_what_the_plan_needs

    needed = downstream_of_sources(SPECS, ["comtrade"]) - _keys("intermediate/margins")

    def run(selected: set[dg.AssetKey], of: BuildPlan = SOME_PERIODS, kept: bool = True) -> bool:
        context = SimpleNamespace(
            assets_def=SimpleNamespace(specs=SPECS), selected_asset_keys=selected
        )
        return _selects_what_the_plan_needs(context, of, keeps_estimates=kept)  # type: ignore[arg-type]

    assert run(needed) and run(needed | _keys("marts/dim_product", "intermediate/margins"))
    assert not run(needed - _keys("marts/fct_mirror"))
    assert not run(needed, kept=False)  # on Spark the estimates are rebuilt: needed too
    assert not run(needed, BuildPlan("all_periods", "asked"))


def test_a_run_of_period_models_without_what_they_feed_leaves_it_behind() -> None:
    """A run of some models from the UI that rebuilt a period model but not the models
    downstream of it leaves those behind (the dbt step then makes every period due); the
    selections of `mirror run` and of the landing sensor, closed downstream, leave none."""
    periods = _keys("intermediate/declarations")

    def behind(*names: str, kept: bool = True) -> set[dg.AssetKey]:
        return left_behind(SPECS, _keys(*names), periods, keeps_estimates=kept)

    assert behind("intermediate/declarations") == _keys("marts/fct_mirror", "published/warehouse")
    # on Spark the estimates are rebuilt with the periods: they are behind too
    assert behind("intermediate/declarations", kept=False) == _keys(
        "intermediate/margins", "marts/fct_mirror", "published/warehouse"
    )
    assert behind("intermediate/declarations", "marts/fct_mirror") == _keys("published/warehouse")
    # what mirror run selects for a Comtrade file: nothing behind, though dim_product is left out
    assert behind(*("/".join(k.path) for k in downstream_of_sources(SPECS, ["comtrade"]))) == set()
    # no period model selected: nothing rebuilt that others must follow
    assert behind("marts/fct_mirror", "staging/stg_comtrade") == set()


def test_the_dbt_step_reads_what_is_left_behind_from_its_whole_specs() -> None:
    """In a subset run Dagster's ``assets_def.keys`` holds the selected keys only; the step
    reads the whole graph from ``assets_def.specs``, so a run of one period model (the paired
    flows) is seen to leave the models downstream of it behind."""
    from dagster_project.definitions import defs
    from dagster_project.jobs import TRANSFORM_JOB_NAME
    from dagster_project.transform.assets import _leaves_trailing_models_behind, mirror_dbt_assets

    paired = dg.AssetKey(["intermediate", "int_mirror__flows_paired"])
    subset = mirror_dbt_assets.subset_for({paired}, selected_asset_check_keys=None)
    assert set(subset.keys) == {paired}  # what made the old check always find nothing behind
    context = SimpleNamespace(assets_def=subset, selected_asset_keys={paired})
    behind = _leaves_trailing_models_behind(context, keeps_estimates=True)  # type: ignore[arg-type]
    assert dg.AssetKey(["marts", "fct_mirror_trade"]) in behind
    assert not {k for k in behind if k.path[-1] == "int_cif_fob__margins"}
    job = defs.resolve_job_def(TRANSFORM_JOB_NAME)
    assert behind < set(job.asset_layer.selected_asset_keys)
