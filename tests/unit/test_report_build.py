"""The report reads the report tables and applies expectations/ to them: a status the code has
never heard of, no corridor at all, and waivers (which dbt does not know) all show.

The report tables are made here from the dbt contracts of ``dbt/models/report`` (the manifest's
column names and types), so they are the tables a build writes; their rows are the case each
test needs. The models' own rules are the dbt unit tests of ``dbt/models/report``.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dagster_project.publish.docs import load_manifest
from dagster_project.report.build import SCHEMA, ReportSourceError, collect, named, render
from dagster_project.settings import EXPECTATIONS_DIR

A = {"freq": "A"}


def make_report_tables(path: Path, rows: dict[str, list[dict[str, Any]]]) -> Path:
    """``path`` with every report table of the manifest (contract columns and types), holding
    ``rows`` (a column left out is null)."""
    models = [
        n
        for n in load_manifest()["nodes"].values()
        if n["resource_type"] == "model" and n.get("schema") == SCHEMA
    ]
    assert set(rows) <= {m["name"] for m in models}, "a table the report layer does not have"
    with duckdb.connect(str(path)) as con:
        con.execute(f"create schema {SCHEMA}")
        for model in models:
            columns = model["columns"]
            ddl = ", ".join(f"{name} {spec['data_type']}" for name, spec in columns.items())
            con.execute(f"create table {SCHEMA}.{model['name']} ({ddl})")
            for row in rows.get(model["name"], []):
                names = list(row)
                con.execute(
                    f"insert into {SCHEMA}.{model['name']} ({', '.join(names)}) "
                    f"values ({', '.join('?' for _ in names)})",
                    [row[n] for n in names],
                )
    return path


def flow(exporter: str, importer: str, hs6: str, period: str = "2022") -> dict[str, Any]:
    return A | {"period": period, "exporter_iso3": exporter, "importer_iso3": importer, "hs6": hs6}


def summary(
    status: str, *, flows: int, beyond: int, value: float, within: float, net_gap: float
) -> dict[str, Any]:
    """A row of rpt_status_summary (annual)."""
    return A | {
        "status": status,
        "flows": flows,
        "flows_beyond_tolerance": beyond,
        "value_usd": value,
        "value_within_tolerance_usd": within,
        "net_gap_usd": net_gap,
    }


BREACH = flow("KAZ", "FRA", "270900") | {
    "status": "breach",
    "declared_sides": "both",
    "export_value_usd": 1500.0,
    "import_value_fob_usd": 1000.0,
    "gap_usd": -500.0,
    "gap_pct": -33.3,
    "tolerance_pct": 10.0,
    "residual_gap_pct": -33.3,
    "gap_rank": 1,
}

TABLES: dict[str, list[dict[str, Any]]] = {
    "rpt_coverage": [
        {"flows": 4, "reporter_sides": 3, "products": 2, "first_year": "2020", "last_year": "2022"}
    ],
    "rpt_status_summary": [
        summary("ok", flows=2, beyond=0, value=300.0, within=300.0, net_gap=5.0),
        summary("breach", flows=1, beyond=1, value=1500.0, within=0.0, net_gap=-500.0),
        summary("a_status_of_tomorrow", flows=1, beyond=0, value=50.0, within=50.0, net_gap=1.0),
    ],
    "rpt_unexplained_gaps": [BREACH],
    "rpt_status_findings": [
        flow("KAZ", "CHN", "740311")
        | {
            "status": "a_status_of_tomorrow",
            "finding_rank": 1,
            "status_reason": "a reason of tomorrow",
        },
        flow("KAZ", "FRA", "270900") | {"status": "breach", "finding_rank": 1},
        flow("KAZ", "CHN", "740311", "2021") | {"status": "ok", "finding_rank": 1},
    ],
    "rpt_chart_series": [
        A
        | {
            "chart_rank": rank,
            "chart_kind": "largest_gaps",
            "exporter_iso3": "KAZ",
            "hs6": hs6,
            "subject_gap_usd": 10.0,
            "period": "2022",
            "importer_iso3": importer,
            "export_value_usd": 1.0,
            "import_value_fob_usd": 2.0,
        }
        for rank, hs6, importer in (
            (1, "270900", "FRA"),
            (1, "270900", "ITA"),
            (2, "740311", "CHN"),
        )
    ],
    "rpt_gap_distribution": [
        A | {"status": "ok", "bin_start": 0.0, "bin_width": 2.0, "flows": 2},
        A | {"status": "breach", "bin_start": -34.0, "bin_width": 2.0, "flows": 1},
    ],
    "rpt_code_names": [
        {"code_kind": "country", "code": "KAZ", "code_name": "Kazakhstan"},
        {"code_kind": "country", "code": "CHN", "code_name": "China"},
        {"code_kind": "product", "code": "270900", "code_name": "Crude petroleum"},
    ],
}


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return make_report_tables(tmp_path / "mirror.duckdb", TABLES)


def test_a_new_status_and_no_corridor_still_show(warehouse: Path) -> None:
    data = collect(warehouse)
    table = {r["status"]: r for r in data.statuses}
    assert list(table) == ["ok", "breach", "a_status_of_tomorrow"]  # the vocabulary's order first
    assert table["a_status_of_tomorrow"]["class"] == "not in statuses.yml"
    assert table["a_status_of_tomorrow"]["annual_flows"] == 1
    assert table["breach"]["monthly_flows"] == 0
    # findings: every status that is not plain agreement, breaches included; not ok
    assert list(data.findings) == ["breach", "a_status_of_tomorrow"]
    assert [r["reason"] for r in data.findings["a_status_of_tomorrow"]] == ["a reason of tomorrow"]
    assert data.charts and all(c["corridor_id"] is None for c in data.charts)
    assert [(c["hs6"], c["importers"]) for c in data.charts] == [
        ("270900", ["FRA", "ITA"]),
        ("740311", ["CHN"]),
    ]
    # classes are applied when reading: compared = ok + breach, the new status is neither
    assert data.headline["compared_flows"] == 3 and data.headline["explained_flows"] == 0
    annual = data.by_freq[0]
    assert annual["flows"] == 4 and annual["compared_value_usd"] == 1800.0
    assert annual["share_in_tolerance"] == pytest.approx(300 / 1800)
    assert data.headline["unexplained_breaches"] == 1 and data.headline["waived_breaches"] == 0
    page = render(data)
    assert "<h3>a_status_of_tomorrow</h3>" in page and "<h3>ok</h3>" not in page
    assert "KAZ Kazakhstan" in page and "270900 Crude petroleum" in page
    assert "<td>FRA</td>" in page  # a code without a name is shown alone
    assert page.count("Plotly.newPlot") == len(data.charts) + 1  # + the gap distribution


def test_a_waiver_accepts_a_breach_until_it_expires(warehouse: Path, tmp_path: Path) -> None:
    """Waivers are policy with a date, outside the warehouse: the report applies them as it
    reads the unexplained gaps, and stops the day after they expire."""
    expectations = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, expectations)
    suite = expectations / "fct_mirror_trade.yml"
    waiver = (
        "waivers:\n  - id: kz-fr-crude\n    exporter_iso3: KAZ\n    importer_iso3: FRA\n"
        '    hs6: "270900"\n    reason: a known refinery outage\n    expires: 2030-06-30\n'
    )
    suite.write_text(suite.read_text().replace("waivers: []\n", waiver), encoding="utf-8")

    data = collect(warehouse, expectations_dir=expectations, today=dt.date(2030, 6, 30))
    assert (data.headline["unexplained_breaches"], data.headline["waived_breaches"]) == (0, 1)
    assert [g["waiver"] for g in data.biggest_gaps] == ["kz-fr-crude"]
    (explained,) = data.explanations
    assert (explained["label"], explained["explanation"]) == (
        "kz-fr-crude",
        "a known refinery outage",
    )
    assert (explained["years"], explained["gap_usd"]) == (1, -500.0)
    assert "a known refinery outage" in render(data)

    expired = collect(warehouse, expectations_dir=expectations, today=dt.date(2030, 7, 1))
    assert (expired.headline["unexplained_breaches"], expired.headline["waived_breaches"]) == (1, 0)
    assert [g["waiver"] for g in expired.biggest_gaps] == [None] and not expired.explanations


def test_a_warehouse_without_report_tables_says_what_to_run(tmp_path: Path) -> None:
    path = tmp_path / "mirror.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(ReportSourceError, match=r"run `mirror run` to build them"):
        collect(path)


def test_codes_get_their_names() -> None:
    assert named("KAZ", {"KAZ": "Kazakhstan"}) == "KAZ Kazakhstan"
    assert named("_X", {"KAZ": "Kazakhstan"}) == "_X"
    assert named(None, {}) == "-"
