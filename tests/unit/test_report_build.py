"""The report is data-driven: a status the code has never heard of, or no corridor at all,
still shows (on the tiny warehouse of the alert tests, no full build needed)."""

from __future__ import annotations

from pathlib import Path

from dagster_project.report.build import collect, named, render
from tests.fixtures.alerts.mini import make_warehouse


def test_a_new_status_and_no_corridor_still_show(tmp_path: Path) -> None:
    import duckdb

    warehouse = make_warehouse(tmp_path / "home")
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update marts.fct_mirror_trade set status = 'a_status_of_tomorrow' "
            "where importer_iso3 = 'CHN' and period = '2022'"
        )
    data = collect(warehouse)
    table = {r["status"]: r for r in data.statuses}
    assert table["a_status_of_tomorrow"]["class"] == "not in statuses.yml"
    assert table["a_status_of_tomorrow"]["annual_flows"] == 1
    assert [r["importer_iso3"] for r in data.findings["a_status_of_tomorrow"]] == ["CHN"]
    # no corridor column: the charts show the flows with the largest gaps, by exporter x HS6
    assert data.charts and all(c["corridor_id"] is None for c in data.charts)
    assert {(c["exporter_iso3"], c["hs6"]) for c in data.charts} <= {
        ("KAZ", "270900"),
        ("KAZ", "740311"),
    }
    page = render(data)
    assert "<h3>a_status_of_tomorrow</h3>" in page
    assert "KAZ Kazakhstan" in page and "270900 Crude petroleum" in page
    assert page.count("Plotly.newPlot") == len(data.charts) + 1  # + the gap distribution


def test_codes_get_their_names() -> None:
    assert named("KAZ", {"KAZ": "Kazakhstan"}) == "KAZ Kazakhstan"
    assert named("_X", {"KAZ": "Kazakhstan"}) == "_X"
    assert named(None, {}) == "-"
