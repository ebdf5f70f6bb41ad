"""`mirror fetch comtrade` against a local server replaying recorded Comtrade API responses.

No test may reach the network: an autouse guard refuses every non-loopback connection, and
the transport adapter refuses any host other than the Comtrade one it rewrites.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import socket
from pathlib import Path

import duckdb
import pytest
from pytest_httpserver import HTTPServer

from dagster_project import redaction
from dagster_project.ingest.loader import ingest_files
from dagster_project.sources import comtrade, comtrade_api
from dagster_project.sources.comtrade_api import (
    ComtradeAuthError,
    ComtradeError,
    FetchRequest,
    Reporter,
)
from mirror_tools.fetch import add_fetch_parser
from tests.conftest import load_reference_tables

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "comtrade_api"
SECRET = "0123abcdTEST-KEY-never-print-me"
FINAL_A = "/data/v1/get/C/A/HS"
PREVIEW_A = "/public/v1/preview/C/A/HS"
AUT, KAZ = Reporter(40, "AUT"), Reporter(398, "KAZ")


def our_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Log text of this process except the local test server's own access log."""
    return "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records if r.name != "werkzeug")


def recorded(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any connection that is not to this machine (the pytest-httpserver)."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in (
            "127.0.0.1",
            "::1",
            "localhost",
        ):
            raise ConnectionRefusedError(f"network access in a unit test: {host}")
        return real_connect(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def guarded_lookup(host: object, *args: object, **kwargs: object) -> object:
        if host not in ("127.0.0.1", "::1", "localhost", None):
            raise socket.gaierror(f"name lookup in a unit test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)
    monkeypatch.delenv(comtrade_api.API_KEY_ENV, raising=False)
    monkeypatch.delenv(comtrade_api.BASE_URL_ENV, raising=False)


@pytest.fixture
def base_url(httpserver: HTTPServer) -> str:
    return httpserver.url_for("/").rstrip("/")


def request_a(*reporters: Reporter, years=range(2019, 2025)) -> FetchRequest:
    return FetchRequest(
        reporters=tuple(reporters),
        hs_codes=("2709", "2710"),
        periods=tuple(str(y) for y in years),
        freq="A",
    )


def fetch(base_url: str, landing: Path, request: FetchRequest, **kwargs):
    kwargs.setdefault("api_key", SECRET)
    kwargs.setdefault("sleep", lambda _s: None)
    return comtrade_api.fetch_final_data(
        request,
        landing,
        base_url=base_url,
        release_date=dt.date(2025, 7, 1),
        progress=False,
        **kwargs,
    )


def test_a_fetch_writes_files_the_loader_ingests(
    httpserver: HTTPServer, base_url: str, tmp_path: Path
) -> None:
    response = recorded("final_A_AUT-KAZ_2019-2024.json")
    httpserver.expect_request(FINAL_A).respond_with_json(response)
    result = fetch(base_url, tmp_path, request_a(AUT, KAZ))

    [path] = result.files
    assert path == tmp_path / "comtrade" / (
        "comtrade_final_A_AUT-KAZ_2019-2024_hs-2709-2710_released-2025-07-01.csv"
    )
    assert result.rows == response["elementCount"] and not result.preview
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(comtrade.COLUMNS)
    assert not list(path.parent.glob(".*")), "no temp file is left behind"

    [(req, _resp)] = httpserver.log
    assert req.args["reportercode"] == "40,398"
    assert req.args["period"] == "2019,2020,2021,2022,2023,2024"
    assert req.args["cmdCode"] == "2709,2710"
    # the key travels in the APIM header, never in the URL (urllib3 logs URLs)
    assert "subscription-key" not in req.args and SECRET not in req.url
    assert req.headers["Ocp-Apim-Subscription-Key"] == SECRET

    con = duckdb.connect()
    load_reference_tables(con)
    [outcome] = ingest_files(con, comtrade.SPEC, comtrade.SPEC and [path], log=lambda _m: None)
    assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == (
        "loaded",
        response["elementCount"],
        0,
    )
    first = response["data"][0]
    row = con.execute(
        'select "cmdCode", "reporterCode", "partner2Code", "primaryValue", "isReported", '
        "_file_release_date from raw.comtrade_final order by _row_number limit 1"
    ).fetchone()
    assert row[:3] == (first["cmdCode"], first["reporterCode"], first["partner2Code"])
    assert row[3] == first["primaryValue"] and row[4] is True  # typed raw
    assert row[5] == dt.date(2025, 7, 1)


def test_monthly_requests_are_chunked_by_12_periods(
    httpserver: HTTPServer, base_url: str, tmp_path: Path
) -> None:
    httpserver.expect_request("/data/v1/get/C/M/HS").respond_with_json(
        recorded("final_M_AUT_2023.json")
    )
    request = FetchRequest(
        (AUT,), ("2709",), tuple(comtrade_api.periods_for("M", [2022, 2023])), "M"
    )
    result = fetch(base_url, tmp_path, request)
    periods = [req.args["period"].split(",") for req, _ in httpserver.log]
    assert [len(p) for p in periods] == [12, 12]
    assert [p.name for p in result.files] == [
        "comtrade_final_M_AUT_202201-202212_hs-2709_released-2025-07-01.csv",
        "comtrade_final_M_AUT_202301-202312_hs-2709_released-2025-07-01.csv",
    ]


def test_a_chunk_at_the_row_cap_is_split_and_a_single_one_is_flagged(
    httpserver: HTTPServer, base_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    preview = recorded("preview_A_KAZ_2023.json")
    httpserver.expect_request(PREVIEW_A).respond_with_json(preview)
    caplog.set_level(logging.INFO, logger="mirror.comtrade_api")
    cap = len(preview["data"])
    original = comtrade_api.ROW_CAP_PREVIEW
    comtrade_api.ROW_CAP_PREVIEW = cap
    try:
        result = fetch(base_url, tmp_path, request_a(KAZ, years=[2022, 2023]), api_key=None)
    finally:
        comtrade_api.ROW_CAP_PREVIEW = original
    assert [req.args["period"] for req, _ in httpserver.log] == ["2022,2023", "2022", "2023"]
    assert result.truncated == ["KAZ 2022", "KAZ 2023"]
    assert "splitting into 2 smaller requests" in caplog.text
    assert "TRUNCATED" in caplog.text


def test_429_then_200_is_retried_honouring_retry_after(
    httpserver: HTTPServer, base_url: str, tmp_path: Path
) -> None:
    httpserver.expect_ordered_request(FINAL_A).respond_with_json(
        recorded("error_429.json"), status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request(FINAL_A).respond_with_json(
        recorded("final_A_AUT-KAZ_2019-2024.json")
    )
    waits: list[float] = []
    result = fetch(base_url, tmp_path, request_a(AUT, KAZ), sleep=waits.append)
    assert waits == [7.0]
    assert len(result.files) == 1 and len(httpserver.log) == 2


def test_5xx_backs_off_exponentially_with_jitter_then_fails_clearly(
    httpserver: HTTPServer, base_url: str, tmp_path: Path
) -> None:
    httpserver.expect_request(FINAL_A).respond_with_json(recorded("error_500.json"), status=500)
    waits: list[float] = []
    with pytest.raises(ComtradeError) as info:
        fetch(base_url, tmp_path, request_a(AUT), sleep=waits.append, max_attempts=3)
    message = str(info.value)
    assert "HTTP 500 on all 3 attempts" in message and "try again later" in message
    assert "\n" not in message and SECRET not in message
    assert len(httpserver.log) == 3
    assert 2 <= waits[0] <= 4 and 4 <= waits[1] <= 6  # 2 s, 4 s, + up to 2 s jitter
    assert not (tmp_path / "comtrade").exists() or not any((tmp_path / "comtrade").iterdir())


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_one_clear_line_without_the_key(
    httpserver: HTTPServer,
    base_url: str,
    tmp_path: Path,
    status: int,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    httpserver.expect_request(FINAL_A).respond_with_json(recorded("error_401.json"), status=status)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ComtradeAuthError) as info:
        fetch(base_url, tmp_path, request_a(AUT))
    message = str(info.value)
    assert f"refused the key (HTTP {status})" in message and "COMTRADE_API_KEY" in message
    assert "\n" not in message
    assert len(httpserver.log) == 1  # no retry of a wrong key
    captured = capsys.readouterr()
    for text in (message, our_logs(caplog), captured.out, captured.err):
        assert SECRET not in text


def test_without_a_key_the_preview_endpoint_is_used_with_a_warning(
    httpserver: HTTPServer, base_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request(PREVIEW_A).respond_with_json(recorded("preview_A_KAZ_2023.json"))
    caplog.set_level(logging.WARNING, logger="mirror.comtrade_api")
    result = fetch(base_url, tmp_path, request_a(KAZ, years=[2023]), api_key=None)
    assert result.preview and len(result.files) == 1
    [(req, _)] = httpserver.log
    assert req.path == PREVIEW_A and "subscription-key" not in req.args
    assert req.args["maxRecords"] == "500"
    assert "preview endpoint" in caplog.text and "may be truncated" in caplog.text


def test_the_key_never_reaches_logs_files_or_errors(
    httpserver: HTTPServer,
    base_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a misbehaving proxy echoes the request (key header included) in its error body
    def echo(request):  # type: ignore[no-untyped-def]
        from werkzeug import Response

        key = request.headers.get("Ocp-Apim-Subscription-Key")
        return Response(f"bad gateway for {request.url} key {key}", status=502)

    httpserver.expect_request(FINAL_A).respond_with_handler(echo)
    caplog.set_level(logging.DEBUG)
    comtrade_api.register_secret(SECRET)  # what `mirror fetch` does first with the key it reads
    logging.getLogger("mirror.comtrade_api").warning("key is %s", SECRET)
    with pytest.raises(ComtradeError) as info:
        fetch(base_url, tmp_path, request_a(AUT), max_attempts=2)
    assert "HTTP 502" in str(info.value)
    captured = capsys.readouterr()
    files = [p.name for p in tmp_path.rglob("*")]
    for text in (str(info.value), our_logs(caplog), captured.out, captured.err, *files):
        assert SECRET not in text
    assert redaction.REDACTED in our_logs(caplog)
    assert comtrade_api.redact(f"x?subscription-key={SECRET}&a=1") == "x?subscription-key=***&a=1"


def test_a_connection_failure_is_retried_and_reported_without_the_key(tmp_path: Path) -> None:
    # port 9 on loopback: nothing listens; the guard lets loopback through
    with pytest.raises(ComtradeError) as info:
        fetch("http://127.0.0.1:9", tmp_path, request_a(AUT), max_attempts=2)
    assert "cannot reach the Comtrade API" in str(info.value)
    assert SECRET not in str(info.value)


def test_tests_never_reach_the_real_host(tmp_path: Path) -> None:
    """Without a base URL override the real host is the target: the guard refuses it."""
    assert comtrade_api.resolve_base_url() == comtrade_api.COMTRADE_HOST
    with pytest.raises(ComtradeError, match="cannot reach"):
        comtrade_api.fetch_final_data(
            request_a(AUT), tmp_path, api_key=SECRET, sleep=lambda _s: None, progress=False,
            max_attempts=1,
        )  # fmt: skip


def test_the_adapter_refuses_other_hosts_and_restores_comtradeapicall(base_url: str) -> None:
    from comtradeapicall import PreviewGet

    original = PreviewGet.urllib3
    with comtrade_api.comtrade_transport(base_url) as client:
        assert PreviewGet.urllib3 is not original
        with pytest.raises(ComtradeError, match="unexpected host"):
            client.request("GET", "https://example.org/data")
    assert PreviewGet.urllib3 is original


def test_reporters_map_iso2_iso3_and_comtrade_codes() -> None:
    found = comtrade_api.resolve_reporters(["KZ", "ITA", "40", "de", "CZ"])
    assert [(r.code, r.iso3) for r in found] == [
        (398, "KAZ"),
        (381, "ITA"),
        (40, "AUT"),
        (276, "DEU"),
        (203, "CZE"),
    ]
    with pytest.raises(ValueError, match="unknown reporter"):
        comtrade_api.resolve_reporters(["XX"])
    assert comtrade_api.parse_years("2019-2021,2023") == [2019, 2020, 2021, 2023]
    with pytest.raises(ValueError):
        comtrade_api.parse_hs("27091")


def _cli_args(**over: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mirror")
    add_fetch_parser(parser.add_subparsers(dest="command"))
    argv = ["fetch", "comtrade", "--reporters", "KZ", "--hs", "2709", "--years", "2023"]
    argv += ["--freq", "A", *[str(x) for kv in over.items() for x in kv]]
    return parser.parse_args(argv)


def test_run_fetch_cli(
    httpserver: HTTPServer,
    base_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(comtrade_api.BASE_URL_ENV, base_url)
    monkeypatch.setenv(comtrade_api.API_KEY_ENV, SECRET)
    httpserver.expect_request(FINAL_A).respond_with_json(recorded("preview_A_KAZ_2023.json"))
    args = _cli_args(**{"--landing": tmp_path})
    assert args.func(args) == 0
    out = capsys.readouterr()
    assert "1 file(s), 5 rows" in out.out and SECRET not in out.out + out.err

    httpserver.clear()
    httpserver.expect_request(FINAL_A).respond_with_json(recorded("error_401.json"), status=401)
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "refused the key" in err and SECRET not in err
    assert len(err.strip().splitlines()) == 1


def test_run_fetch_refuses_bad_arguments_and_the_sample(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dagster_project.settings import SAMPLE_LANDING

    monkeypatch.delenv("MIRROR_LANDING", raising=False)
    args = _cli_args()
    assert args.func(args) == 2
    assert "--landing" in capsys.readouterr().err
    args = _cli_args(**{"--landing": SAMPLE_LANDING})
    assert args.func(args) == 2
    assert "embedded sample" in capsys.readouterr().err


def test_help_teaches_examples_and_the_env_var() -> None:
    parser = argparse.ArgumentParser(prog="mirror")
    sub = parser.add_subparsers(dest="command")
    fetch_parser = add_fetch_parser(sub)
    text = fetch_parser.format_help()
    assert "COMTRADE_API_KEY" in text and "Examples:" in text
    assert "mirror fetch comtrade --reporters KZ,IT,AT,DE,CZ" in text
