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
import yaml
from pytest_httpserver import HTTPServer

from dagster_project.alerts.channels import (
    Alert,
    AlertTarget,
    deliver,
    delivery_summary,
)
from dagster_project.alerts.messages import (
    CheckEvaluation,
    RunFacts,
    check_alert,
    offender_line,
    run_failure_alert,
    waiver_entries,
)
from dagster_project.alerts.sensors import (
    CHECK_SENSOR,
    RUN_FAILURE_SENSOR,
    build_alert_sensors,
    notify_run,
)
from dagster_project.alerts.state import decide
from dagster_project.quality.suites import Waiver
from dagster_project.redaction import redact, register_url
from dagster_project.settings import HomeLayout
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


def test_an_offender_on_a_corridor_says_what_the_corridor_attributed() -> None:
    """A breach on a pair a transit corridor applies to (its other importers declared none of
    the goods): the line names the corridor and the share it attributed."""
    row = {
        "freq": "A",
        "period": "2021",
        "exporter_iso3": "KAZ",
        "importer_iso3": "ITA",
        "hs6": "270900",
        "declared_export_usd": 5.64e9,
        "mirror_import_fob_usd": 0.65e9,
        "gap_usd": -4.99e9,
        "gap_pct": -88.4,
        "check_tolerance_pct": 10.0,
        "corridor_id": "kz-it-tal",
        "corridor_source": "seed_only",
        "corridor_declared_partner_iso3": "ITA",
        "corridor_allocation_share": 1.0,
    }
    line = offender_line(row)
    assert (
        "tolerance 10 %; transit corridor kz-it-tal (seed only) attributes 100.0 % of what "
        "KAZ declared to ITA to ITA;" in line
    )
    assert "corridor" not in offender_line({**row, "corridor_id": None})


def test_a_broken_channel_never_raises_and_never_leaks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"json://admin:{SECRET}@127.0.0.1:9/hook"  # nothing listens on port 9
    alert = Alert("breach", "warn", "a:b", "title", f"body mentions {url}", "fp")
    outcome = deliver(alert, tmp_path, urls=[url])
    assert outcome["delivered"] == 0 and outcome["configured"] == 1
    [channel] = outcome["channels"]
    assert channel["channel"] == "#1 json" and not channel["delivered"]
    assert "Connection error" in channel["error"]  # Apprise's own reason, from its log
    assert delivery_summary(outcome).startswith("delivered to 0 of 1 channel (#1 json: FAILED")
    assert SECRET not in caplog.text
    assert SECRET not in (HomeLayout(tmp_path).alerts_log).read_text()


@pytest.fixture
def webhook(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> HTTPServer:
    httpserver.expect_request("/mirror-hook", method="POST").respond_with_data("ok")
    monkeypatch.setenv("SOME_SERVICE_TOKEN", TOKEN)
    return httpserver


def target_of(home: Path, webhook: HTTPServer) -> AlertTarget:
    """The alerts of ``home`` go to the webhook (as MIRROR_ALERT_URLS would say)."""
    url = f"json://alerts:{SECRET}@127.0.0.1:{webhook.port}/mirror-hook"
    return AlertTarget(home, urls=(url,))


def _posted(server: HTTPServer) -> list[dict]:
    return [json.loads(request.get_data()) for request, _ in server.log]


def test_breach_is_sent_once_then_resolved_through_the_json_webhook(
    tmp_path: Path, webhook: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "home"
    target = target_of(home, webhook)
    warehouse = make_warehouse(home)
    defs = checks_definitions(warehouse)
    with dg.DagsterInstance.ephemeral() as instance:
        clean = run_checks(defs, instance)
        assert clean.success
        assert all(
            n.decision == "quiet" for n in notify_run(instance, clean.run_id, target).values()
        )
        assert webhook.log == []

        change(warehouse, BREACH_FRA_2022)  # France's 2022 crude import +50 %: unwaived
        failed = run_checks(defs, instance)
        assert not failed.success  # blocking
        notices = notify_run(instance, failed.run_id, target)
        notice = notices["marts/fct_mirror_trade:gx_fct_mirror_trade"]
        assert notice.decision == "send"
        assert delivery_summary(notice.delivery) == "delivered to 1 of 1 channel (#1 json: ok)"
        [message] = _posted(webhook)
        assert message["type"] == "failure"
        assert "ERROR gx_fct_mirror_trade failed on marts/fct_mirror_trade" in message["title"]
        body = message["message"]
        assert "no_unwaived_breach" in body and "nothing was published" in body.lower()
        assert "KAZ→FRA HS 270900 2022 (A): declared export 1.50 bn USD" in body
        assert "previous period 2021" in body  # the change since the previous period
        assert f"Dagster run: {failed.run_id}" in body
        assert "file://" not in body  # a browser or Slack does not open those
        assert f"works offline): {home}/docs/gx/validations/" in body
        # a waiver entry ready to paste: it parses and covers the offending flow
        waiver_text = body.split("(write the reason):\n", 1)[1].split("\n\n", 1)[0]
        [waiver] = yaml.safe_load(waiver_text)
        parsed = Waiver.model_validate(waiver)
        assert (parsed.exporter_iso3, parsed.importer_iso3, parsed.hs6) == ("KAZ", "FRA", "270900")
        assert (parsed.freq, parsed.period_from, parsed.period_to) == ("A", "2022", "2022")
        auth = webhook.log[0][0].headers.get("Authorization", "")
        assert auth.startswith("Basic ")  # the secret went to the channel, and only there

        again = run_checks(defs, instance)  # same breach, next run: nothing new
        assert not again.success
        assert (
            notify_run(instance, again.run_id, target)[
                "marts/fct_mirror_trade:gx_fct_mirror_trade"
            ].decision
            == "repeat"
        )
        assert len(webhook.log) == 1

        change(warehouse, UNDO_BREACH_FRA_2022)
        fixed = run_checks(defs, instance)
        assert fixed.success
        assert (
            notify_run(instance, fixed.run_id, target)[
                "marts/fct_mirror_trade:gx_fct_mirror_trade"
            ].decision
            == "resolve"
        )
        assert len(webhook.log) == 2
        resolved = _posted(webhook)[1]
        assert resolved["type"] == "success" and "RESOLVED gx_fct_mirror_trade" in resolved["title"]

    audit = [json.loads(line) for line in (HomeLayout(home).alerts_log).read_text().splitlines()]
    assert [a["kind"] for a in audit] == ["breach", "resolved"]
    assert all(a["delivery"]["delivered"] == 1 for a in audit)
    assert json.loads((HomeLayout(home).alerts_state).read_text())["open"] == {}
    for text in (caplog.text, (HomeLayout(home).alerts_log).read_text()):
        assert SECRET not in text and TOKEN not in text


def test_without_channels_alerts_go_to_the_log_and_the_jsonl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("MIRROR_ALERT_URLS", raising=False)
    caplog.set_level(logging.INFO)
    ev = CheckEvaluation("marts/x", "gx_y", False, "warn", {"summary": "s"}, "run-1")
    deliver(check_alert(ev, "breach"), tmp_path)
    assert "WARN gx_y failed on marts/x" in caplog.text
    [record] = (HomeLayout(tmp_path).alerts_log).read_text().splitlines()
    delivery = json.loads(record)["delivery"]
    assert delivery == {"configured": 0, "delivered": 0, "channels": []}
    assert delivery_summary(delivery) == (
        "no channel configured (MIRROR_ALERT_URLS): log and alerts.jsonl only"
    )


def test_sensors_decide_on_a_real_instance(
    tmp_path: Path, webhook: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "home"
    warehouse = make_warehouse(home)
    defs = checks_definitions(warehouse)
    check_keys = list(defs.resolve_asset_graph().asset_check_keys)
    check_sensor, failure_sensor = build_alert_sensors(target_of(home, webhook), check_keys)
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
    state = json.loads((HomeLayout(home).alerts_state).read_text())["open"]
    assert set(state) == {
        f"{FCT.to_user_string()}:gx_fct_mirror_trade",
        f"{FCT.to_user_string()}:gx_fct_mirror_trade_plausibility",
    }
    assert SECRET not in caplog.text and TOKEN not in caplog.text


WARN_EVALUATION = CheckEvaluation(
    "marts/fct_mirror_trade", "gx_fct_mirror_trade_plausibility", False, "warn",
    {"summary": "s", "data_docs_page": "/srv/mirror/docs/gx/validations/x/page.html"}, "run-7",
)  # fmt: skip


def test_a_warn_alert_says_whether_its_run_published() -> None:
    published = check_alert(
        WARN_EVALUATION, "breach", run=RunFacts("run-7", "success", publication_id="P-1")
    )
    assert "the run published the marts (publication P-1)" in published.body
    failed = check_alert(
        WARN_EVALUATION,
        "breach",
        run=RunFacts("run-7", "failure", failure="mirror_dbt_assets: dbt test x failed on y"),
    )
    assert "published NOTHING (mirror_dbt_assets: dbt test x failed on y)" in failed.body
    assert "were published" not in failed.body and "published the marts" not in failed.body
    not_publishing = check_alert(WARN_EVALUATION, "breach", run=RunFacts("run-7", "success"))
    assert "this run did not publish" in not_publishing.body


def test_links_open_the_dagster_ui_when_mirror_ui_url_is_set() -> None:
    run = RunFacts("run-7", "success", publication_id="P", ui_url="http://mirror.example:3000")
    alert = check_alert(WARN_EVALUATION, "breach", run=run)
    assert "Dagster run: http://mirror.example:3000/runs/run-7" in alert.body
    assert (
        "Check in the Dagster UI: http://mirror.example:3000/assets/marts/fct_mirror_trade"
        "?view=checks"
    ) in alert.body
    assert alert.details["run_url"] == "http://mirror.example:3000/runs/run-7"
    without = check_alert(WARN_EVALUATION, "breach", run=RunFacts("run-7", "success"))
    assert "http" not in without.body and "set MIRROR_UI_URL" in without.body
    assert "Data Docs (a file on the server; works offline): /srv/mirror/docs/gx/" in without.body


def test_waiver_entries_are_valid_yaml_spanning_the_offending_periods() -> None:
    import datetime as dt

    rows = [
        {"freq": "A", "period": p, "exporter_iso3": "_X", "importer_iso3": "FRA",
         "hs6": "270900", "gap_usd": 1e6, "gap_pct": 20.0}
        for p in ("2021", "2019")
    ]  # fmt: skip
    text = waiver_entries(rows, dt.date(2026, 1, 1))
    [entry] = yaml.safe_load(text)
    waiver = Waiver.model_validate(entry)  # the suite's own model accepts it as it is
    assert waiver.id == "waive-_x-fra-270900-a"
    assert (waiver.period_from, waiver.period_to) == ("2019", "2021")
    assert waiver.expires == dt.date(2026, 4, 1)
    assert (
        "REPLACE WITH why" in waiver.reason and "2019: gap +1.00 m USD (+20.0 %)" in waiver.reason
    )
    assert waiver_entries([{"reporter": "AUT", "freq": "A"}], dt.date(2026, 1, 1)) is None


def test_a_run_failure_alert_leads_with_its_cause() -> None:
    alert = run_failure_alert(
        "mirror_build",
        RunFacts("run-9", "failure"),
        "mirror_dbt_assets: dbt test not_null_x_y failed on marts.x: 2 offending rows",
        ["    y=None, k=1"],
    )
    assert alert.title.startswith("[mirror] run of mirror_build FAILED: mirror_dbt_assets: dbt")
    assert "before any blocking check" not in alert.body
    assert alert.body.splitlines()[1] == "        y=None, k=1"
    assert "nothing was published" in alert.body
