"""Suite files: parsing, waiver validation (nothing unvalidated reaches SQL), expiry."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from dagster_project.quality.suites import (
    SuiteError,
    gx_kwargs,
    load_suite,
    load_suites,
    load_vocabulary,
    to_gx_expectation,
)
from dagster_project.settings import EXPECTATIONS_DIR

SUITE_HEAD = """
suite: t
schema: marts
table: fct_mirror_trade
expectations:
  - type: unexpected_rows
    name: no_unwaived_breach
    query: "select * from {batch} where status = 'breach' and not {waived}"
"""


def write_suite(tmp_path: Path, waivers: str = "") -> Path:
    path = tmp_path / "t.yml"
    path.write_text(SUITE_HEAD + waivers, encoding="utf-8")
    return path


def test_the_shipped_suites_load_and_build_gx_expectations() -> None:
    suites = load_suites(EXPECTATIONS_DIR)
    assert [s.name for s in suites] == [
        "fct_mirror_trade",
        "fct_mirror_trade_plausibility",
        "fct_mirror_trade_structural",
    ]
    by_name = {s.name: s for s in suites}
    assert {n: s.severity for n, s in by_name.items()} == {
        "fct_mirror_trade": "error",
        "fct_mirror_trade_plausibility": "warn",
        "fct_mirror_trade_structural": "error",
    }
    for suite in suites:
        assert suite.qualified_table == "marts.fct_mirror_trade"
        for spec in suite.expectations:
            assert to_gx_expectation(spec, suite, dt.date(2026, 1, 1)) is not None
    mirror = by_name["fct_mirror_trade"]
    assert [mirror.check_name(s) for s in mirror.severities] == [
        "gx_fct_mirror_trade",
        "gx_fct_mirror_trade__warn",
    ]
    # the Trieste/TAL gap is explained by the corridor now: no waiver is needed
    assert mirror.waivers == ()


def test_statuses_are_data_and_feed_the_checks() -> None:
    voc = load_vocabulary(EXPECTATIONS_DIR / "statuses.yml")
    assert {"ok", "breach", "below_threshold", "partner_not_reported", "unallocated"} <= set(
        voc.statuses
    )
    assert {"explained_classification", "explained_unallocated", "re_export"} <= set(
        voc.of_class("explained")
    )
    assert "explained_transit" in voc.of_class("explained")
    structural = load_suite(EXPECTATIONS_DIR / "fct_mirror_trade_structural.yml")
    spec = next(s for s in structural.expectations if s.name == "status_in_vocabulary")
    assert gx_kwargs(spec, structural)["value_set"] == voc.statuses
    flows = load_suite(EXPECTATIONS_DIR / "fct_mirror_trade.yml").flows_sql(dt.date(2026, 1, 1))
    assert "'explained_transit'" in flows and "{batch}" in flows


TOLERANCES = """
tolerances:
  default_severity: error
  hard_ceiling_pct: 40
  rules:
    - {id: chapter-27, hs_chapter: "27", tolerance_pct: 12, severity: warn}
    - {id: kz-it-crude, exporter: KAZ, importer: ITA, hs_chapter: "27", tolerance_pct: 30}
    - {id: tal, corridor: tal, ceiling_pct: 95, severity: error}
corridors:
  - {id: tal, pairs: ["KAZ->AUT", "KAZ->DEU"]}
"""


def test_tolerance_rules_most_specific_wins(tmp_path: Path) -> None:
    suite = load_suite(write_suite(tmp_path, TOLERANCES))
    policy = suite.tolerances
    # pair + chapter (4 + 4 + 2) beats a corridor (8), which beats a chapter (2)
    assert [r.id for r in policy.ordered()] == ["kz-it-crude", "tal", "chapter-27"]
    tolerance = policy.tolerance_sql()
    # the pair rule is tried before the chapter rule; the mart's column is the fallback
    assert tolerance.index("30.0") < tolerance.index("12.0")
    assert tolerance.endswith("else tolerance_pct end)")
    assert "'warn'" in policy.severity_sql() and policy.severity_sql().endswith("else 'error' end)")
    ceiling = policy.ceiling_sql(corridor_column="corridor_id")
    assert "corridor_id = 'tal'" in ceiling and "95.0" in ceiling and "else 40.0" in ceiling


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("tolerances: {rules: [{id: x, tolerance_pct: 5}]}", "needs at least one match key"),
        ("tolerances: {rules: [{id: x, hs_chapter: '2', tolerance_pct: 5}]}", "invalid hs_chapter"),
        (
            'tolerances: {rules: [{id: x, exporter: "KAZ\' --", tolerance_pct: 5}]}',
            "invalid exporter",
        ),
        (
            "tolerances: {rules: [{id: x, hs_chapter: '27', tolerance_pct: 500}]}",
            "between 0 and 100",
        ),
        (
            "tolerances: {rules: [{id: x, hs_chapter: '27', tolerance_pct: 5, severity: fatal}]}",
            "severity must be",
        ),
        ("tolerances: {rules: [{id: x, corridor: nowhere, tolerance_pct: 5}]}", "unknown corridor"),
        ("tolerances: {rules: [{id: x, hs_chapter: '27', tolerance: 5}]}", "unknown key"),
        ("corridors: [{id: c, pairs: ['KAZ-ITA']}]", "is not 'EXP->IMP'"),
    ],
)
def test_bad_tolerance_rules_are_rejected(tmp_path: Path, rules: str, message: str) -> None:
    with pytest.raises(SuiteError, match=message):
        load_suite(write_suite(tmp_path, rules + "\n"))


def test_waived_sql_covers_only_active_waivers(tmp_path: Path) -> None:
    suite = load_suite(
        write_suite(
            tmp_path,
            """
waivers:
  - {id: a, exporter_iso3: KAZ, importer_iso3: ITA, hs6: "270900", reason: r, expires: 2027-01-31}
  - {id: b, exporter_iso3: KAZ, importer_iso3: NLD, hs6: "740311", freq: M, period_from: "202301", reason: r, expires: 2026-01-31}
""",
        )
    )
    today = dt.date(2026, 6, 1)
    assert [w.id for w in suite.expired_waivers(today)] == ["b"]
    sql = suite.waived_sql(today)
    assert "'ITA'" in sql and "'NLD'" not in sql
    rendered = suite.render_query(suite.expectations[0].query or "", today)
    assert "{waived}" not in rendered and "{batch}" in rendered
    assert suite.waived_sql(dt.date(2028, 1, 1)) == "false"


@pytest.mark.parametrize(
    ("waiver", "message"),
    [
        (
            "{id: x, exporter_iso3: \"KAZ' or 1=1 --\", importer_iso3: ITA, hs6: '270900', reason: r, expires: 2027-01-01}",
            "invalid exporter_iso3",
        ),
        (
            "{id: x, exporter_iso3: KAZ, importer_iso3: ITA, hs6: '2709', reason: r, expires: 2027-01-01}",
            "invalid hs6",
        ),
        (
            "{id: x, exporter_iso3: KAZ, importer_iso3: ITA, hs6: '270900', reason: r}",
            "missing expires",
        ),
        (
            "{id: x, exporter_iso3: KAZ, importer_iso3: ITA, hs6: '270900', expires: 2027-01-01}",
            "missing reason",
        ),
        (
            "{id: x, exporter_iso3: KAZ, importer_iso3: ITA, hs6: '270900', reason: r, expires: soon}",
            "is not YYYY-MM-DD",
        ),
        (
            "{id: x, exporter_iso3: KAZ, importer_iso3: ITA, hs6: '270900', reason: r, expires: 2027-01-01, typo: 1}",
            "unknown key",
        ),
    ],
)
def test_bad_waivers_are_rejected_with_a_clear_message(
    tmp_path: Path, waiver: str, message: str
) -> None:
    with pytest.raises(SuiteError, match=message):
        load_suite(write_suite(tmp_path, f"waivers:\n  - {waiver}\n"))


def test_bad_suite_structure_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text("suite: s\nschema: marts\ntable: 'x; drop table y'\nexpectations: []\n")
    with pytest.raises(SuiteError, match="'table' must be a lower-case identifier"):
        load_suite(path)
    path.write_text("suite: s\nschema: marts\ntable: x\nseverity: fatal\nexpectations: []\n")
    with pytest.raises(SuiteError, match="severity must be one of"):
        load_suite(path)
    path.write_text(
        "suite: s\nschema: marts\ntable: x\nexpectations:\n  - type: unexpected_rows\n    query: select 1\n"
    )
    with pytest.raises(SuiteError, match="needs a query using"):
        load_suite(path)


def test_descriptions_show_parameter_values_not_their_names() -> None:
    """An alert reads "the last 2 years", never "the last stable_years years"."""
    for suite in load_suites(EXPECTATIONS_DIR):
        names = [*suite.parameters, "hard_ceiling_pct"]
        for text in [suite.description, *(e.description or "" for e in suite.expectations)]:
            assert "{param:" not in text and "{hard_ceiling_pct}" not in text, text
            for name in names:
                assert not re.search(rf"\b{name}\b", text), f"{suite.path.name}: {name} in {text!r}"
    plausibility = next(s for s in load_suites(EXPECTATIONS_DIR) if "plausibility" in s.name)
    disappears = next(e for e in plausibility.expectations if e.name == "no_reporter_disappears")
    assert "the last 2 years (or 12 months), at least 1,000,000 USD" in disappears.description
