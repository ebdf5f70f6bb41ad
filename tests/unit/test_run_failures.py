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
