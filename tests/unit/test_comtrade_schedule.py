"""The Comtrade fetch schedule's decisions, against recorded availability responses."""

from __future__ import annotations

import copy
import datetime as dt
import json
import socket
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from dagster_project.sources import comtrade_schedule as sched

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "comtrade_api"
SECRET = "sched-SECRET-key-0000"
AVAILABILITY = "/data/v1/getDa/C/A/HS"
FINAL = "/data/v1/get/C/A/HS"
NOW = dt.datetime(2025, 7, 2, 6, 0, tzinfo=dt.UTC)


def recorded(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_getaddrinfo = socket.getaddrinfo

    def guarded_lookup(host: object, *args: object, **kwargs: object) -> object:
        if host not in ("127.0.0.1", "::1", "localhost", None):
            raise socket.gaierror(f"name lookup in a unit test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "landing").mkdir()
    return {
        "COMTRADE_API_KEY": SECRET,
        "MIRROR_HOME": str(tmp_path / "home"),
        "MIRROR_LANDING": str(tmp_path / "landing"),
        "MIRROR_FETCH_REPORTERS": "AT,KZ",
        "MIRROR_FETCH_HS": "2709",
        "MIRROR_FETCH_FREQ": "A",
        "MIRROR_FETCH_YEARS": "2022-2023",
    }


def tick(httpserver: HTTPServer, env: dict[str, str]):
    return sched.evaluate(
        env, now=NOW, base_url=httpserver.url_for("/").rstrip("/"), sleep=lambda _s: None
    )


def serve(httpserver: HTTPServer, availability: dict) -> None:
    httpserver.expect_request(AVAILABILITY).respond_with_json(availability)
    httpserver.expect_request(FINAL).respond_with_json(recorded("preview_A_KAZ_2023.json"))


def final_requests(httpserver: HTTPServer) -> list[tuple[str, str]]:
    return sorted(
        (req.args["reportercode"], req.args["period"])
        for req, _ in httpserver.log
        if req.path == FINAL
    )


def test_without_a_key_it_skips_and_calls_nothing(
    httpserver: HTTPServer, env: dict[str, str]
) -> None:
    del env["COMTRADE_API_KEY"]
    decision = tick(httpserver, env)
    assert isinstance(decision, dg.SkipReason) and "COMTRADE_API_KEY" in decision.skip_message
    assert httpserver.log == []


def test_the_first_tick_fetches_every_released_period_and_requests_a_build(
    httpserver: HTTPServer, env: dict[str, str], tmp_path: Path
) -> None:
    serve(httpserver, recorded("availability_A.json"))
    decision = tick(httpserver, env)
    assert isinstance(decision, dg.RunRequest) and decision.job_name == "mirror_build"
    [(avail, _)] = [(r, x) for r, x in httpserver.log if r.path == AVAILABILITY]
    assert avail.args["reportercode"] == "40,398" and "subscription-key" not in avail.args
    assert final_requests(httpserver) == [("398", "2023"), ("40", "2022"), ("40", "2023")]
    names = sorted(p.name for p in (tmp_path / "landing" / "comtrade").iterdir())
    assert names == [
        "comtrade_final_A_AUT_2022_hs-2709_released-2024-06-11.csv",
        "comtrade_final_A_AUT_2023_hs-2709_released-2025-06-30.csv",
        "comtrade_final_A_KAZ_2023_hs-2709_released-2025-05-14.csv",
    ]
    state = json.loads((tmp_path / "home" / "state" / "comtrade_fetch.json").read_text())
    assert state["datasets"]["A|40|2023"]["checksum"] == "3902148875"
    assert state["datasets"]["A|398|2023"]["last_released"] == "2025-05-14T12:40:03"
    assert SECRET not in json.dumps(state)


def test_nothing_new_is_a_skip(httpserver: HTTPServer, env: dict[str, str]) -> None:
    serve(httpserver, recorded("availability_A.json"))
    assert isinstance(tick(httpserver, env), dg.RunRequest)
    httpserver.clear_log()
    decision = tick(httpserver, env)
    assert isinstance(decision, dg.SkipReason)
    assert "nothing new: 3 Comtrade dataset(s) unchanged" in decision.skip_message
    assert final_requests(httpserver) == []


def test_only_a_revised_period_is_fetched(httpserver: HTTPServer, env: dict[str, str]) -> None:
    availability = recorded("availability_A.json")
    serve(httpserver, availability)
    first = tick(httpserver, env)
    revised = copy.deepcopy(availability)
    revised["data"][2]["datasetChecksum"] = 1234567
    revised["data"][2]["lastReleased"] = "2025-07-01T09:00:00"
    httpserver.clear()
    serve(httpserver, revised)
    decision = tick(httpserver, env)
    assert isinstance(decision, dg.RunRequest) and decision.run_key != first.run_key
    assert final_requests(httpserver) == [("398", "2023")]
    assert decision.tags["mirror/comtrade_datasets"] == "1"


def test_a_failed_fetch_skips_and_keeps_the_state(
    httpserver: HTTPServer, env: dict[str, str], tmp_path: Path
) -> None:
    httpserver.expect_request(AVAILABILITY).respond_with_json(recorded("availability_A.json"))
    httpserver.expect_request(FINAL).respond_with_json(recorded("error_500.json"), status=500)
    decision = tick(httpserver, env)
    assert isinstance(decision, dg.SkipReason)
    assert "Comtrade fetch failed" in decision.skip_message and SECRET not in decision.skip_message
    assert not (tmp_path / "home" / "state" / "comtrade_fetch.json").exists()


def test_a_wrong_key_skips_with_the_reason(httpserver: HTTPServer, env: dict[str, str]) -> None:
    httpserver.expect_request(AVAILABILITY).respond_with_json(
        recorded("error_401.json"), status=401
    )
    decision = tick(httpserver, env)
    assert isinstance(decision, dg.SkipReason) and "refused the key" in decision.skip_message
    assert SECRET not in decision.skip_message


def test_the_schedule_is_off_by_default_and_targets_mirror_build() -> None:
    schedule = sched.comtrade_fetch_schedule
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.job_name == "mirror_build"
    assert "OFF by default" in (schedule.description or "")
