"""The run history storage (dagster_project/run_history.py): what it writes is what Dagster's
stock SQLite storage writes and reads, batches are one transaction that keeps all or nothing,
and `mirror` puts it in a new home's dagster.yaml without overwriting a user's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from dagster_project.run_history import MirrorSqliteEventLogStorage, dagster_yaml

PERIODS = dg.StaticPartitionsDefinition([f"M:2024{m:02d}" for m in range(1, 13)])


@dg.asset(partitions_def=PERIODS)
def by_period(context) -> None:  # type: ignore[no-untyped-def]  (Dagster reads the hint)
    context.log.info(f"built {len(context.partition_keys)} periods")


@dg.asset(partitions_def=PERIODS, deps=[by_period])
def downstream() -> None:
    pass


JOB = dg.define_asset_job("all_periods", selection=[by_period, downstream])
DEFS = dg.Definitions(assets=[by_period, downstream], jobs=[JOB])


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(dagster_yaml(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # unset, and unset again afterwards (the storage sets it for its process)
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "")
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE")
    yield home


def _run_every_period(instance: dg.DagsterInstance) -> str:
    result = DEFS.resolve_job_def("all_periods").execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": "M:202401",
            "dagster/asset_partition_range_end": "M:202412",
        },
    )
    assert result.success
    return result.run_id


def _materialized(instance: dg.DagsterInstance) -> dict[str, set[str]]:
    return {
        key.to_user_string(): set(instance.get_materialized_partitions(key))
        for key in (dg.AssetKey("by_period"), dg.AssetKey("downstream"))
    }


def test_a_home_written_by_mirror_uses_this_storage_and_asks_for_batches(
    dagster_home: Path,
) -> None:
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, MirrorSqliteEventLogStorage)
        assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == "1000"
        # Dagster's default place, so the history of a home is where it always was
        assert Path(instance.event_log_storage._base_dir) == dagster_home / "history" / "runs"


def test_what_it_writes_is_read_by_the_stock_storage(dagster_home: Path) -> None:
    with dg.DagsterInstance.get() as instance:
        run_id = _run_every_period(instance)
        written = _materialized(instance)
        records = instance.all_logs(run_id)
    every = {f"M:2024{m:02d}" for m in range(1, 13)}
    assert written == {"by_period": every, "downstream": every}
    planned = [
        r
        for r in records
        if r.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ]
    assert len(planned) == 24  # one per asset and period, stored as one batch
    # the same home read by Dagster's own storage: the same history
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.get() as stock:
        assert type(stock.event_log_storage) is SqliteEventLogStorage
        assert _materialized(stock) == written
        assert len(stock.all_logs(run_id)) == len(records)
        # and history written by the stock storage is read back by this one
        _run_every_period(stock)
    (dagster_home / "dagster.yaml").write_text(dagster_yaml(dagster_home))
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == 2
        assert _materialized(instance) == written


def test_a_batch_that_fails_keeps_nothing_and_dagster_stores_its_events_one_by_one(
    dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, MirrorSqliteEventLogStorage)
        real_store_event = MirrorSqliteEventLogStorage.store_event
        calls = {"n": 0, "fail": True}

        def store_event(self: MirrorSqliteEventLogStorage, event: dg.EventLogEntry) -> None:
            calls["n"] += 1
            if calls["fail"] and calls["n"] == 5:  # in the middle of the first batch
                calls["fail"] = False
                real_store_event(self, event)  # written, then the batch fails
                raise RuntimeError("disk full")
            real_store_event(self, event)

        monkeypatch.setattr(MirrorSqliteEventLogStorage, "store_event", store_event)
        run_id = _run_every_period(instance)
        planned = [
            r
            for r in instance.all_logs(run_id)
            if r.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ]
    assert not calls["fail"]  # the batch did fail
    # it was rolled back whole: the fallback stored each event once, not twice
    assert len(planned) == 24
    assert len({(r.dagster_event.asset_key, r.dagster_event.partition) for r in planned}) == 24


def test_wipe_closes_the_connections_to_the_files_it_deletes(dagster_home: Path) -> None:
    with dg.DagsterInstance.get() as instance:
        _run_every_period(instance)
        instance.wipe()
        assert _materialized(instance) == {"by_period": set(), "downstream": set()}
        run_id = _run_every_period(instance)  # written to new files, read back
        assert len(_materialized(instance)["by_period"]) == 12
        assert instance.all_logs(run_id)
    assert (dagster_home / "history" / "runs" / f"{run_id}.db").is_file()


def test_mirror_writes_the_yaml_once_and_rewrites_only_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_project.cli import _prepare_dagster_home
    from dagster_project.settings import Settings

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    settings = Settings(home=tmp_path / "home")
    folder = settings.layout.dagster_home.resolve()
    config = folder / "dagster.yaml"
    assert _prepare_dagster_home(settings) == folder
    assert config.read_text() == dagster_yaml(folder)
    config.write_text("telemetry:\n  enabled: false\n")  # a home written before this storage
    _prepare_dagster_home(settings)
    assert config.read_text() == dagster_yaml(folder)
    config.write_text(dagster_yaml(tmp_path / "elsewhere"))  # ours, for a home since moved
    _prepare_dagster_home(settings)
    assert config.read_text() == dagster_yaml(folder)
    users = "telemetry:\n  enabled: false\nrun_monitoring:\n  enabled: true\n"
    config.write_text(users)  # the user's own: kept
    _prepare_dagster_home(settings)
    assert config.read_text() == users


def test_an_instance_opened_by_folder_finds_its_history(dagster_home: Path) -> None:
    """Scripts and tests open a home with ``DagsterInstance.from_config(folder)``, without
    DAGSTER_HOME: the storage's folder is in the yaml."""
    with dg.DagsterInstance.get() as instance:
        run_id = _run_every_period(instance)
    os.environ.pop("DAGSTER_HOME")
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert instance.all_logs(run_id)
        assert len(_materialized(instance)["by_period"]) == 12
