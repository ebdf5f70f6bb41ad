"""`dagster dev` from the repo root serves the asset graph, and runs launched the way the UI
launches them (GraphQL launchRun) materialise everything: the ingest, which adds the period
partitions, then the build over all of them (the UI asks for partitions when a selection holds
partitioned assets: the period models)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagster_project.run_history import dagster_yaml
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

LAUNCH = """
mutation($selector: JobOrPipelineSelector!, $tags: [ExecutionTag!]) {
  launchRun(executionParams: {
    selector: $selector, runConfigData: "{}", executionMetadata: {tags: $tags}
  }) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}
"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
GROUPS = "{ assetNodes { groupName assetKey { path } } }"
PARTITIONS = """
{ assetNodeOrError(assetKey: {path: ["marts", "fct_declarations"]}) {
    ... on AssetNode { partitionKeys } } }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload
    return payload["data"]


def _restore_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("dagster_dev")
    (tmp / "dagster_home").mkdir()
    # the dagster.yaml `mirror` writes: the UI, the daemon and the runs it launches (other
    # processes) share run history through dagster_project.run_history's storage
    (tmp / "dagster_home" / "dagster.yaml").write_text(dagster_yaml(tmp / "dagster_home"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIRROR_")}
    env.update(DAGSTER_HOME=str(tmp / "dagster_home"), MIRROR_HOME=str(tmp / "home"))
    port = _free_port()
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.Popen(
        [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=(tmp / "dev.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_restore_signals,  # background shells may start us with SIGTERM ignored
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        "dagster dev did not start:\n" + (tmp / "dev.log").read_text()[-3000:]
                    )
                time.sleep(1)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_the_ui_shows_the_layered_asset_graph(dagster_dev: int) -> None:
    nodes = _graphql(dagster_dev, GROUPS)["assetNodes"]
    groups = {n["groupName"] for n in nodes}
    assert {"ingest", "staging", "intermediate", "marts", "publish"} <= groups
    keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
    assert "marts/fct_mirror_trade" in keys


def _run(port: int, job: str, tags: dict[str, str] | None = None) -> str:
    """Launch ``job`` as the UI does, wait for it; its run id."""
    selector = {
        "repositoryLocationName": "mirror",
        "repositoryName": "__repository__",
        "jobName": job,
    }
    variables = {
        "selector": selector,
        "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
    }
    # launching builds the execution plan of ~500 assets and checks in the code server: more
    # than 30 s when the two shared cores are busy
    launched = _graphql(port, LAUNCH, variables, timeout=240)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + 900  # a full build; minutes when the shared cores are busy
    status = None
    while time.monotonic() < deadline:
        status = _graphql(port, STATUS, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS", (job, status)
    return run_id


def test_runs_launched_like_the_ui_succeed(dagster_dev: int) -> None:
    _run(dagster_dev, "mirror_ingest")
    keys = _graphql(dagster_dev, PARTITIONS)["assetNodeOrError"]["partitionKeys"]
    assert "A:2021" in keys and "M:202403" in keys  # the sample's periods, added by the ingest
    # what the UI's partition dialog launches for "all" partitions as a single run
    range_tags = {
        "dagster/asset_partition_range_start": keys[0],
        "dagster/asset_partition_range_end": keys[-1],
    }
    run_id = _run(dagster_dev, "mirror_build", range_tags)
    # what an alert links to with MIRROR_UI_URL set (alerts/messages.py RunFacts) is served
    for path in (f"/runs/{run_id}", "/assets/marts/fct_mirror_trade?view=checks"):
        with urllib.request.urlopen(f"http://127.0.0.1:{dagster_dev}{path}", timeout=30) as page:
            assert page.status == 200 and b"<html" in page.read(2000).lower()
