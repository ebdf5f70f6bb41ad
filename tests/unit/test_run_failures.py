"""A failed run's cause in a line: the first exception of the chain that is not Dagster's."""

from __future__ import annotations

from types import SimpleNamespace

from dagster._utils.error import SerializableErrorInfo

from dagster_project.run_failures import error_cause, step_failure_cause


def info(cls_name: str, message: str, cause=None) -> SerializableErrorInfo:
    return SerializableErrorInfo(
        message=message, stack=["  File x"], cls_name=cls_name, cause=cause
    )


def test_the_cause_is_the_first_non_dagster_error_without_its_module() -> None:
    locked = info(
        "WarehouseLockedError",
        "dagster_project.resources.WarehouseLockedError: another run is using the warehouse "
        "/h/mirror.duckdb (pid 12, run r); waited 0s for it to finish.\n",
        cause=info("IOException", "_duckdb.IOException: Could not set lock on file\n"),
    )
    wrapped = info(
        "DagsterResourceFunctionError",
        "dagster._core.errors.DagsterResourceFunctionError: Error executing resource_fn on "
        "ResourceDefinition warehouse\n",
        cause=locked,
    )
    assert error_cause(wrapped) == (
        "WarehouseLockedError: another run is using the warehouse /h/mirror.duckdb "
        "(pid 12, run r); waited 0s for it to finish."
    )


def test_a_failure_description_wins_with_its_details() -> None:
    data = SimpleNamespace(
        user_failure_data=SimpleNamespace(
            description="dbt test not_null_x_y failed on marts.x: 2 offending rows",
            metadata={"details": SimpleNamespace(value="    y=None\n    y=None")},
        ),
        error=info("Failure", "dagster._core.definitions.events.Failure: ...\n"),
    )
    cause = step_failure_cause("mirror_dbt_assets", data)
    assert cause.text() == (
        "mirror_dbt_assets: dbt test not_null_x_y failed on marts.x: 2 offending rows"
    )
    assert cause.details == ("    y=None", "    y=None")


def test_only_dagster_errors_still_give_a_line() -> None:
    only = info("DagsterExecutionStepExecutionError", "dagster._core.errors.X: boom\nmore\n")
    assert error_cause(only) == "X: boom"


def test_a_step_failed_by_its_blocking_checks_names_each_check_with_its_summary() -> None:
    """Dagster's own message lists the checks after a colon ("1 blocking asset check failed
    with ERROR severity:"), which the first line lost: the cause is the failed checks."""
    from dagster import AssetCheckSeverity, AssetKey, DagsterEventType

    from dagster_project.run_failures import run_causes

    def evaluation(name: str, passed: bool, severity: AssetCheckSeverity) -> SimpleNamespace:
        return SimpleNamespace(
            event_type=DagsterEventType.ASSET_CHECK_EVALUATION,
            step_key="gx_suites",
            event_specific_data=SimpleNamespace(
                check_name=name, passed=passed, severity=severity,
                asset_key=AssetKey(["marts", "fct_mirror_trade"]),
                metadata={"summary": SimpleNamespace(value=f"{name}: 1 expectation failed")},
            ),
        )  # fmt: skip

    failure = SimpleNamespace(
        event_type=DagsterEventType.STEP_FAILURE,
        step_key="gx_suites",
        event_specific_data=SimpleNamespace(
            user_failure_data=None,
            error=info(
                "DagsterAssetCheckFailedError",
                "dagster._core.errors.DagsterAssetCheckFailedError: 1 blocking asset check "
                "failed with ERROR severity:\nmarts/fct_mirror_trade: gx_structural\n",
            ),
        ),
    )
    events = [
        evaluation("gx_structural", False, AssetCheckSeverity.ERROR),
        evaluation("gx_warn", False, AssetCheckSeverity.WARN),
        evaluation("gx_fine", True, AssetCheckSeverity.ERROR),
        failure,
    ]
    assert [c.text() for c in run_causes(events)] == [
        "gx_suites: gx_structural failed on marts/fct_mirror_trade: "
        "gx_structural: 1 expectation failed"
    ]


def test_a_failed_check_names_the_worst_row_of_each_failed_expectation() -> None:
    """Under the cause, `mirror run`'s summary shows the worst offending row of each failed
    expectation (at most three), in the alert's wording, without the landing files."""
    from dagster import AssetCheckSeverity, AssetKey

    from dagster_project.run_failures import FAILED_EXPECTATIONS_SHOWN, failed_check_causes

    row = {
        "freq": "A", "period": "2022", "exporter_iso3": "KAZ", "importer_iso3": "ITA",
        "hs6": "270900", "declared_export_usd": 10.09e9, "mirror_import_fob_usd": 3.10e9,
        "gap_usd": -6.99e9, "gap_pct": -69.3, "check_tolerance_pct": 10.0,
        "corridor_id": "kz-it-tal", "corridor_source": "seed_only",
        "corridor_declared_partner_iso3": "ITA", "corridor_allocation_share": 1.0,
        "source_files": ["/landing/comtrade/a.csv"],
    }  # fmt: skip
    failures = [{"expectation": f"rule_{n}", "offenders": [row]} for n in range(5)]
    failures.insert(1, {"expectation": "share", "offenders": []})  # an aggregate: no row
    evaluation = SimpleNamespace(
        check_name="gx_fct_mirror_trade", passed=False, severity=AssetCheckSeverity.ERROR,
        asset_key=AssetKey(["marts", "fct_mirror_trade"]),
        metadata={"summary": SimpleNamespace(value="FAILED: 2/4 expectations"),
                  "failures": SimpleNamespace(value=failures)},
    )  # fmt: skip
    [cause] = failed_check_causes("gx_suites", [evaluation])
    assert len(cause.details) == FAILED_EXPECTATIONS_SHOWN == 3
    assert cause.details[0].startswith(
        "rule_0: worst KAZ→ITA HS 270900 2022 (A): declared export 10.09 bn USD"
    )
    assert "; transit corridor kz-it-tal (seed only) attributes 100.0 %" in cause.details[0]
    assert cause.details[1] == "rule_1: worst the same flow as rule_0"
    assert all("a.csv" not in line for line in cause.details)
    # an aggregate's row (no flow) is shown as it is, not as a "worst" flow
    aggregate = {"expectation": "share", "offenders": [{"freq": "A", "share": 0.07}]}
    evaluation.metadata["failures"] = SimpleNamespace(value=[aggregate])
    assert failed_check_causes("gx_suites", [evaluation])[0].details == (
        "share: freq=A, share=0.07",
    )
    # a check without the metadata (another kind of check): the summary alone, as before
    evaluation.metadata = {"summary": SimpleNamespace(value="FAILED")}
    assert failed_check_causes("gx_suites", [evaluation])[0].details == ()
