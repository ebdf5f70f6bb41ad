"""Suite files: validated models (nothing unvalidated reaches SQL, errors name file, line and
field), waivers and their expiry, corridors and tolerances from the dbt seeds."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from dagster_project.quality.suites import (
    Corridor,
    SuiteError,
    gx_kwargs,
    load_corridors,
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
"""
TAL = {"tal": Corridor(id="tal", pairs=(("KAZ", "AUT"), ("KAZ", "DEU")))}


def test_tolerance_rules_most_specific_wins(tmp_path: Path) -> None:
    # corridors and the mart's chapter tolerances are the dbt seeds'; here given directly
    suite = load_suite(
        write_suite(tmp_path, TOLERANCES), corridors=TAL, chapter_tolerances={"27": 12}
    )
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
        (
            "tolerances: {rules: [{id: x, hs_chapter: '2', tolerance_pct: 5}]}",
            "hs_chapter: '2' is not an HS chapter",
        ),
        (
            'tolerances: {rules: [{id: x, exporter: "KAZ\' --", tolerance_pct: 5}]}',
            "exporter: .* is not an ISO-3 code",
        ),
        (
            "tolerances: {rules: [{id: x, hs_chapter: '27', tolerance_pct: 500}]}",
            "between 0 and 100",
        ),
        (
            "tolerances: {rules: [{id: x, hs_chapter: '27', tolerance_pct: 5, severity: fatal}]}",
            "severity: must be one of",
        ),
        ("tolerances: {rules: [{id: x, corridor: nowhere, tolerance_pct: 5}]}", "unknown corridor"),
        ("tolerances: {rules: [{id: x, hs_chapter: '27', tolerance: 5}]}", "unknown key"),
        ("corridors: [{id: c, pairs: ['KAZ->ITA']}]", "corridors are not defined in a suite"),
        (
            "tolerances: {rules: [{id: x, hs_chapter: '27', tolerance_pct: 30}]}",
            "chapter 27's tolerance to 30 %, the dbt seed mirror_tolerances.csv to 10 %",
        ),
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
            "exporter_iso3: .* is not an ISO-3 code",
        ),
        (
            "{id: x, exporter_iso3: KAZ, importer_iso3: ITA, hs6: '2709', reason: r, expires: 2027-01-01}",
            "hs6: '2709' is not an HS6 code",
        ),
        (
            "{id: x, exporter_iso3: KAZ, importer_iso3: ITA, hs6: '270900', reason: r}",
            r"expires: missing \(required\)",
        ),
        (
            "{id: x, exporter_iso3: KAZ, importer_iso3: ITA, hs6: '270900', expires: 2027-01-01}",
            r"reason: missing \(required\)",
        ),
        (
            "{id: x, exporter_iso3: KAZ, importer_iso3: ITA, hs6: '270900', reason: r, expires: soon}",
            r"'soon' is not a date \(YYYY-MM-DD\)",
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
    with pytest.raises(SuiteError, match="table: 'x; drop table y' is not a lower-case identifier"):
        load_suite(path)
    path.write_text("suite: s\nschema: marts\ntable: x\nseverity: fatal\nexpectations: []\n")
    with pytest.raises(SuiteError, match="severity: must be one of"):
        load_suite(path)
    path.write_text(
        "suite: s\nschema: marts\ntable: x\nexpectations:\n  - type: unexpected_rows\n    query: select 1\n"
    )
    with pytest.raises(SuiteError, match="needs a query using"):
        load_suite(path)
    # a query is read as one line: the -- comment would swallow the rest of it
    path.write_text(
        "suite: s\nschema: marts\ntable: x\nexpectations:\n  - type: unexpected_rows\n"
        "    query: >\n      select * from {batch}\n      -- only breaches\n"
        "      where status = 'breach'\n"
    )
    with pytest.raises(SuiteError, match=r"comments out everything after it .*: use /\*"):
        load_suite(path)
    path.write_text(path.read_text().replace("-- only breaches", "/* only breaches */"))
    assert "where status = 'breach'" in load_suite(path).expectations[0].query


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


def test_errors_name_the_file_the_line_and_the_field(tmp_path: Path) -> None:
    path = write_suite(
        tmp_path,
        """waivers:
  - id: a
    exporter_iso3: KAZ
    importer_iso3: ITA
    hs6: "2709"
    reason: r
    expires: 2027-01-31
    typo: 1
""",
    )
    with pytest.raises(SuiteError) as raised:
        load_suite(path)
    assert str(raised.value).splitlines() == [
        "t.yml:13: waivers[0].hs6: '2709' is not an HS6 code (six digits)",
        "t.yml:16: waivers[0].typo: unknown key",
    ]


def test_corridors_come_from_the_dbt_seed(tmp_path: Path) -> None:
    """One source of truth: the suite's corridor rule uses the seed's route and importers."""
    assert load_corridors() == {
        "kz-it-tal": Corridor(
            id="kz-it-tal",
            pairs=(("KAZ", "ITA"), ("KAZ", "AUT"), ("KAZ", "DEU"), ("KAZ", "CZE")),
            description=load_corridors()["kz-it-tal"].description,
        )
    }
    mirror = load_suite(EXPECTATIONS_DIR / "fct_mirror_trade.yml")
    assert [c.id for c in mirror.tolerances.corridors] == ["kz-it-tal"]
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "transit_corridors.csv").write_text(
        "corridor_id,origin_iso3,declared_partner_iso3,decision\n"
        "ok,KAZ,ITA,confirm\nnot-used,KAZ,FRA,reject\nbad,KZ-,ITA,confirm\n"
    )
    (seeds / "transit_corridor_importers.csv").write_text("corridor_id,importer_iso3\nok,AUT\n")
    with pytest.raises(SuiteError, match=r"^transit_corridors.csv:4: pairs\[0\]\[0\]: 'KZ-'"):
        load_corridors(seeds)
    (seeds / "transit_corridors.csv").write_text(
        "corridor_id,origin_iso3,declared_partner_iso3,decision\nok,KAZ,ITA,confirm\n"
        "not-used,KAZ,FRA,reject\n"
    )
    assert {k: c.pairs for k, c in load_corridors(seeds).items()} == {
        "ok": (("KAZ", "ITA"), ("KAZ", "AUT"))
    }
