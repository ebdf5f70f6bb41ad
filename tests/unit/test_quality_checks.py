"""The GX checks on a tiny warehouse: severities, tolerance rules, waivers, offenders, Data Docs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

from dagster_project.quality.checks import RESULTS_FILE
from dagster_project.quality.runner import run_suites
from dagster_project.quality.suites import load_suites
from dagster_project.settings import EXPECTATIONS_DIR
from tests.fixtures.alerts.mini import (
    BREACH_FRA_2022,
    FCT,
    change,
    checks_definitions,
    make_warehouse,
    run_checks,
)


def test_definitions_load_without_importing_great_expectations() -> None:
    code = (
        "import sys; import dagster_project.quality.checks as c; c.build_gx_checks(); "
        "import dagster_project.alerts.sensors, dagster_project.report.assets; "
        "print('great_expectations' in sys.modules, 'plotly' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


def test_checks_block_on_error_and_carry_what_a_person_needs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    warehouse = make_warehouse(home)
    change(warehouse, BREACH_FRA_2022)
    defs = checks_definitions(warehouse)
    specs = {k.name: defs.resolve_asset_graph().get_check_spec(k) for k in
             defs.resolve_asset_graph().asset_check_keys}  # fmt: skip
    assert {n: s.blocking for n, s in specs.items()} == {
        "gx_fct_mirror_trade": True,
        "gx_fct_mirror_trade__warn": False,
        "gx_fct_mirror_trade_structural": True,
        "gx_fct_mirror_trade_plausibility": False,
    }
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_checks(defs, instance)
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    mirror = evaluations["gx_fct_mirror_trade"]
    assert not mirror.passed and mirror.asset_key == FCT
    meta = {k: getattr(v, "value", v) for k, v in mirror.metadata.items()}
    assert meta["expectations_failed"] == 2 and meta["failed_rows"] >= 1
    [breach] = [f for f in meta["failures"] if f["expectation"] == "no_unwaived_breach"]
    assert (breach["evaluated"], breach["failed"]) == (
        12,
        1,
    )  # compared + explained rows, offending
    [row] = breach["offenders"]
    assert (row["exporter_iso3"], row["importer_iso3"], row["hs6"], row["period"]) == (
        "KAZ",
        "FRA",
        "270900",
        "2022",
    )
    assert row["declared_export_usd"] == 1.5e9
    assert row["gap_pct"] > 10 and row["previous_period"] == "2021"
    assert "| KAZ | FRA | 270900 |" in meta["offending_rows"]
    docs_page = Path(meta["data_docs_page"].removeprefix("file://"))
    assert docs_page.exists() and (home / "docs" / "gx" / "index.html").exists()
    assert meta["data_docs"] == str(home / "docs" / "gx" / "index.html")
    assert evaluations["gx_fct_mirror_trade_structural"].passed
    results = json.loads((home / "docs" / "gx" / RESULTS_FILE).read_text())
    assert {c["check"]: c["passed"] for c in results["checks"]}["gx_fct_mirror_trade"] is False


def test_a_warn_rule_turns_a_blocking_breach_into_a_warning(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "home")
    change(warehouse, BREACH_FRA_2022)
    folder = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, folder)
    suite_file = folder / "fct_mirror_trade.yml"
    suite_file.write_text(
        suite_file.read_text().replace(
            "  rules:\n",
            "  rules:\n"
            "    - {id: fr-crude, exporter: KAZ, importer: FRA, hs6: '270900', "
            "tolerance_pct: 20, severity: warn}\n",
            1,
        )
    )
    suites = [s for s in load_suites(folder) if s.name == "fct_mirror_trade"]
    [outcome] = run_suites(suites, warehouse)
    error, warn = outcome.for_severity("error"), outcome.for_severity("warn")
    assert {o.name for o in error.failed} == {"value_weighted_share_in_tolerance"}
    [failed] = warn.failed
    assert failed.name == "no_unwaived_breach_warn_rules"
    assert failed.offenders[0]["tolerance_rule"] == "fr-crude"
    assert failed.offenders[0]["check_tolerance_pct"] == 20.0


def test_expired_waiver_fails_and_fingerprint_is_stable(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "home")
    change(warehouse, BREACH_FRA_2022)
    folder = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, folder)
    suite_file = folder / "fct_mirror_trade.yml"
    suite_file.write_text(
        suite_file.read_text(encoding="utf-8").replace(
            "waivers: []",
            "waivers:\n"
            "  - {id: fra-2022-test, exporter_iso3: KAZ, importer_iso3: FRA, hs6: '270900',\n"
            "     reason: accepted for this test, expires: 2027-06-30}",
        ),
        encoding="utf-8",
    )
    [suite] = [s for s in load_suites(folder) if s.name == "fct_mirror_trade"]
    [waiver] = suite.waivers
    after = waiver.expires + dt.timedelta(days=1)
    [first] = run_suites([suite], warehouse, today=after)
    [second] = run_suites([suite], warehouse, today=after)
    assert not first.success and first.waived_breaches == 0 and first.breaches == 1
    assert "EXPIRED waivers: fra-2022-test" in first.one_line()
    assert first.fingerprint() == second.fingerprint()
    [ok] = run_suites([suite], warehouse, today=waiver.expires)
    assert ok.success and ok.fingerprint() != first.fingerprint()


def _disappearing(warehouse: Path) -> list[dict]:
    [suite] = [
        s for s in load_suites(EXPECTATIONS_DIR) if s.name == "fct_mirror_trade_plausibility"
    ]
    [outcome] = run_suites([suite], warehouse)
    failed = {o.name: o for o in outcome.for_severity("warn").failed}
    return (
        list(failed["no_reporter_disappears"].offenders)
        if "no_reporter_disappears" in failed
        else []
    )


def test_a_reporter_that_goes_silent_while_its_partner_declares_is_an_alarm(tmp_path: Path) -> None:
    """FRA declared its crude imports in 2020 and 2021; in 2022 KAZ still declares its exports
    to FRA but FRA declares nothing: a file is missing or a release is late."""
    warehouse = make_warehouse(tmp_path / "home")
    change(warehouse, "update marts.fct_mirror_trade set import_value_usd = null, "
                      "import_net_weight_kg = null where period = '2022' and importer_iso3 = 'FRA'")  # fmt: skip
    [offender] = _disappearing(warehouse)
    assert (offender["reporter"], offender["missing_period"]) == ("FRA", "2022")


def test_trade_that_stopped_on_both_sides_word_is_not_an_alarm(tmp_path: Path) -> None:
    """KAZ declared exports to FRA in 2021 and declares none in 2022, and FRA declares nothing
    in 2022 either: both sides say the trade stopped (the embedded sample's uranium sales to
    Switzerland end this way); no reporter disappeared."""
    warehouse = make_warehouse(tmp_path / "home")
    change(warehouse, "delete from marts.fct_mirror_trade where period = '2022' "
                      "and importer_iso3 = 'FRA'")  # fmt: skip
    assert _disappearing(warehouse) == []


def test_a_failed_expectation_is_summarised_with_its_rows_or_what_was_observed() -> None:
    from dagster_project.quality.runner import ExpectationOutcome, _failed_text

    def failed(observed: object, unexpected: int | None) -> ExpectationOutcome:
        return ExpectationOutcome("e", "t", False, observed, unexpected)

    assert _failed_text(failed("3 unexpected", 3)) == "e (3)"
    assert _failed_text(failed(0, None)) == "e (observed 0)"  # an empty table's row count
    assert _failed_text(failed(None, None)) == "e"


def _structural_failures(warehouse: Path) -> set[str]:
    [suite] = [s for s in load_suites(EXPECTATIONS_DIR) if s.name == "fct_mirror_trade_structural"]
    [outcome] = run_suites([suite], warehouse)
    return {o.name for o in outcome.failed}


def test_an_empty_mart_fails_only_beside_declarations(tmp_path: Path) -> None:
    """No flow beside declarations: the mirror join broke. No flow and no declaration (an
    energy-only landing folder, an empty one) is a legitimate warehouse, not a failure."""
    warehouse = make_warehouse(tmp_path / "home")
    assert _structural_failures(warehouse) == set()
    change(warehouse, "delete from marts.fct_mirror_trade")
    assert _structural_failures(warehouse) == {"flows_for_the_declarations"}
    change(warehouse, "delete from marts.fct_declarations")
    assert _structural_failures(warehouse) == set()


def test_the_rows_shown_for_a_query_without_the_fact_keys_are_the_same_every_run(
    tmp_path: Path,
) -> None:
    """Offenders of a query that is not of fact rows (an aggregate, a list of reporters) are
    shown in the rows' own order: an unordered LIMIT may show other rows of the same result
    in the next run (seen on the 5M world: classification_differences_listed)."""
    import duckdb

    from dagster_project.quality.runner import _Database
    from dagster_project.quality.suites import Suite

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema marts")
    con.execute("create table marts.t as select * from (values ('M', 'ITA', 3), ('A', 'DEU', 1), "
                "('M', 'AUT', 2), ('A', 'CZE', 5)) as v(freq, reporter, n)")  # fmt: skip
    suite = Suite("t", "marts", "t", "warn", "", (), (), tmp_path / "t.yml")
    rows, fingerprint = _Database(con, suite, dt.date(2026, 12, 5), None).offenders(
        "select freq, reporter, n from {batch} where n > 1", limit=2
    )
    assert [(r["freq"], r["reporter"]) for r in rows] == [("A", "CZE"), ("M", "AUT")]
    assert fingerprint
