"""Alerts: delivered once through a JSON webhook, de-duplicated, resolved, never leaking secrets.

The checks run for real (GX on a tiny DuckDB warehouse, a checks-only Dagster job on an
ephemeral instance); a local HTTP server stands in for the channel (``json://``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from dagster_project.alerts.channels import JSONL_FILE, STATE_FILE, Alert, deliver
from dagster_project.alerts.messages import CheckEvaluation, check_alert, offender_line
from dagster_project.alerts.sensors import (
    CHECK_SENSOR,
    RUN_FAILURE_SENSOR,
    build_alert_sensors,
    notify_run,
)
from dagster_project.alerts.state import decide
from dagster_project.redaction import redact, register_url
from tests.fixtures.alerts.mini import (
    AUT_STOPS_REPORTING,
    BREACH_FRA_2022,
    FCT,
    UNDO_BREACH_FRA_2022,
    change,
    checks_definitions,
    make_warehouse,
    run_checks,
)

SECRET = "s3cr3t-Pa55word-9f2c"
TOKEN = "xoxb-TOKEN-4242424242"


def test_decide_is_the_whole_dedup_policy() -> None:
    assert decide(None, passed=False, fingerprint="a") == "send"
    assert decide({"fingerprint": "a"}, passed=False, fingerprint="a") == "repeat"
    assert decide({"fingerprint": "a"}, passed=False, fingerprint="b") == "send"
    assert decide({"fingerprint": "a"}, passed=True, fingerprint="") == "resolve"
    assert decide(None, passed=True, fingerprint="") == "quiet"


def test_redaction_masks_registered_and_pattern_secrets() -> None:
    register_url(f"slack://bot/{TOKEN}/C123456")
    text = (
        f"posting to slack://bot/{TOKEN}/C123456 and json://user:{SECRET}@h:1/x?token=abcdef "
        "and https://hooks.slack.com/services/T000/B000/XXXXXXXX with Bearer abc.def.ghi"
    )
    clean = redact(text)
    for leaked in (TOKEN, SECRET, "abcdef", "T000/B000", "abc.def.ghi"):
        assert leaked not in clean
    assert "hooks.slack.com" in clean  # the channel stays recognisable


def test_offender_line_reads_like_a_sentence() -> None:
    line = offender_line(
        {
            "freq": "A",
            "period": "2022",
            "exporter_iso3": "KAZ",
            "importer_iso3": "FRA",
            "hs6": "270900",
            "declared_export_usd": 1.5e9,
            "mirror_import_fob_usd": 2.26e9,
            "gap_usd": 0.76e9,
            "gap_pct": 33.7,
            "check_tolerance_pct": 10.0,
            "previous_period": "2021",
            "previous_gap_usd": 0.0075e9,
            "previous_gap_pct": 0.6,
        }
    )
    assert line.startswith("KAZ→FRA HS 270900 2022 (A): declared export 1.50 bn USD")
    assert "gap +760.00 m USD (+33.7 %)" in line and "tolerance 10 %" in line
    assert "previous period 2021: gap +7.50 m USD (+0.6 %), change +752.50 m USD" in line


def test_a_broken_channel_never_raises_and_never_leaks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"json://admin:{SECRET}@127.0.0.1:9/hook"  # nothing listens on port 9
    alert = Alert("breach", "warn", "a:b", "title", f"body mentions {url}", "fp")
    outcome = deliver(alert, tmp_path, urls=[url])
    assert outcome["delivered"] is False and outcome["error"]
    assert SECRET not in caplog.text
    assert SECRET not in (tmp_path / JSONL_FILE).read_text()


@pytest.fixture
def webhook(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> HTTPServer:
    httpserver.expect_request("/mirror-hook", method="POST").respond_with_data("ok")
    monkeypatch.setenv(
        "MIRROR_ALERT_URLS", f"json://alerts:{SECRET}@127.0.0.1:{httpserver.port}/mirror-hook"
    )
    monkeypatch.setenv("SOME_SERVICE_TOKEN", TOKEN)
    return httpserver


def _posted(server: HTTPServer) -> list[dict]:
    return [json.loads(request.get_data()) for request, _ in server.log]


def test_breach_is_sent_once_then_resolved_through_the_json_webhook(
    tmp_path: Path, webhook: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "home"
    warehouse = make_warehouse(home)
    defs = checks_definitions(warehouse)
    with dg.DagsterInstance.ephemeral() as instance:
        clean = run_checks(defs, instance)
        assert clean.success
        assert all(d == "quiet" for d in notify_run(instance, clean.run_id, home).values())
        assert webhook.log == []

        change(warehouse, BREACH_FRA_2022)  # France's 2022 crude import +50 %: unwaived
        failed = run_checks(defs, instance)
        assert not failed.success  # blocking
        decisions = notify_run(instance, failed.run_id, home)
        assert decisions["marts/fct_mirror_trade:gx_fct_mirror_trade"] == "send"
        [message] = _posted(webhook)
        assert message["type"] == "failure"
        assert "ERROR gx_fct_mirror_trade failed on marts/fct_mirror_trade" in message["title"]
        body = message["message"]
        assert "no_unwaived_breach" in body and "nothing was published" in body.lower()
        assert "KAZ→FRA HS 270900 2022 (A): declared export 1.50 bn USD" in body
        assert "previous period 2021" in body  # the change since the previous period
        assert f"Dagster run: {failed.run_id}" in body
        assert "Data Docs: file://" in body and "docs/gx/validations" in body
        auth = webhook.log[0][0].headers.get("Authorization", "")
        assert auth.startswith("Basic ")  # the secret went to the channel, and only there

        again = run_checks(defs, instance)  # same breach, next run: nothing new
        assert not again.success
        assert (
            notify_run(instance, again.run_id, home)["marts/fct_mirror_trade:gx_fct_mirror_trade"]
            == "repeat"
        )
        assert len(webhook.log) == 1

        change(warehouse, UNDO_BREACH_FRA_2022)
        fixed = run_checks(defs, instance)
        assert fixed.success
        assert (
            notify_run(instance, fixed.run_id, home)["marts/fct_mirror_trade:gx_fct_mirror_trade"]
            == "resolve"
        )
        assert len(webhook.log) == 2
        resolved = _posted(webhook)[1]
        assert resolved["type"] == "success" and "RESOLVED gx_fct_mirror_trade" in resolved["title"]

    audit = [json.loads(line) for line in (home / JSONL_FILE).read_text().splitlines()]
    assert [a["kind"] for a in audit] == ["breach", "resolved"]
    assert all(a["delivery"]["delivered"] for a in audit)
    assert json.loads((home / STATE_FILE).read_text())["open"] == {}
    for text in (caplog.text, (home / JSONL_FILE).read_text()):
        assert SECRET not in text and TOKEN not in text


def test_without_channels_alerts_go_to_the_log_and_the_jsonl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("MIRROR_ALERT_URLS", raising=False)
    caplog.set_level(logging.INFO)
    ev = CheckEvaluation("marts/x", "gx_y", False, "warn", {"summary": "s"}, "run-1")
    deliver(check_alert(ev, "breach"), tmp_path)
    assert "WARN gx_y failed on marts/x" in caplog.text
    [record] = (tmp_path / JSONL_FILE).read_text().splitlines()
    assert json.loads(record)["delivery"] == {"channels": 0, "delivered": False, "error": None}


def test_sensors_decide_on_a_real_instance(
    tmp_path: Path, webhook: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "home"
    warehouse = make_warehouse(home)
    defs = checks_definitions(warehouse)
    check_keys = list(defs.resolve_asset_graph().asset_check_keys)
    check_sensor, failure_sensor = build_alert_sensors(home, check_keys)
    assert (check_sensor.name, failure_sensor.name) == (CHECK_SENSOR, RUN_FAILURE_SENSOR)
    with dg.DagsterInstance.ephemeral() as instance:
        # a warn-level failure: Austria stops reporting; the run succeeds (non-blocking)
        change(warehouse, AUT_STOPS_REPORTING)
        result = run_checks(defs, instance)
        assert result.success
        ctx = dg.build_sensor_context(instance=instance, cursor=None)
        check_sensor.evaluate_tick(ctx)
        [message] = _posted(webhook)
        assert "WARN gx_fct_mirror_trade_plausibility" in message["title"]
        assert "reporter=AUT" in message["message"] and "missing_period=2022" in message["message"]
        cursor = ctx.cursor
        assert cursor and "gx_fct_mirror_trade_plausibility" in cursor

        # next tick, nothing new: nothing sent, cursor unchanged
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor)
        check_sensor.evaluate_tick(ctx)
        assert len(webhook.log) == 1 and ctx.cursor == cursor

        # a blocking failure: the check sensor leaves it to the run-failure sensor
        change(warehouse, BREACH_FRA_2022)
        failed = run_checks(defs, instance)
        assert not failed.success
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor)
        check_sensor.evaluate_tick(ctx)
        assert len(webhook.log) == 1  # the same warn breach is not re-sent
        run = instance.get_run_by_id(failed.run_id)
        failure_event = next(
            e
            for e in instance.all_logs(failed.run_id)
            if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE
        ).dagster_event
        failure_sensor(
            dg.build_run_status_sensor_context(
                sensor_name=RUN_FAILURE_SENSOR,
                dagster_instance=instance,
                dagster_run=run,
                dagster_event=failure_event,
            ).for_run_failure()
        )
        assert len(webhook.log) == 2
        assert "ERROR gx_fct_mirror_trade failed" in _posted(webhook)[1]["title"]
    state = json.loads((home / STATE_FILE).read_text())["open"]
    assert set(state) == {
        f"{FCT.to_user_string()}:gx_fct_mirror_trade",
        f"{FCT.to_user_string()}:gx_fct_mirror_trade_plausibility",
    }
    assert SECRET not in caplog.text and TOKEN not in caplog.text
