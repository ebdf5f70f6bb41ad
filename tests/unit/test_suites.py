"""Suite files: parsing, waiver validation (nothing unvalidated reaches SQL), expiry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dagster_project.quality.suites import SuiteError, load_suite, load_suites, to_gx_expectation
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
    assert [s.name for s in suites] == ["fct_mirror_trade"]
    suite = suites[0]
    assert suite.severity == "error"
    assert suite.qualified_table == "marts.fct_mirror_trade"
    for spec in suite.expectations:
        assert to_gx_expectation(spec, suite, dt.date(2026, 1, 1)) is not None
    [waiver] = suite.waivers
    assert (waiver.exporter_iso3, waiver.importer_iso3, waiver.hs6) == ("KAZ", "ITA", "270900")
    assert waiver.reason and waiver.expires > dt.date(2026, 11, 1)


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
