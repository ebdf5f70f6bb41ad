"""The bad-input corpus (tests/fixtures/bad_input/): every file loads, is quarantined row by
row, or is refused with a clear reason, as cases.yml says; the good files load regardless."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project.ingest.loader import ingest_files
from dagster_project.ingest.registry import FileOutcome
from dagster_project.sources import comtrade
from tests.conftest import REPO_ROOT, load_reference_tables, stamp_in_name_order

CORPUS = REPO_ROOT / "tests" / "fixtures" / "bad_input"
CASES: dict[str, dict] = yaml.safe_load((CORPUS / "cases.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ingested(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[duckdb.DuckDBPyConnection, dict[str, FileOutcome]]:
    """A copy of the whole corpus through ingest_files once (one landing scan, files in name
    order, modified in name order: `copy_of_...` after its original)."""
    con = duckdb.connect()
    load_reference_tables(con)
    from dagster_project.ingest.spec import files_of

    landing = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS / "comtrade", landing / "comtrade")
    stamp_in_name_order(landing)
    paths = files_of(landing, comtrade.SPEC)
    outcomes = ingest_files(con, comtrade.SPEC, paths, log=lambda _msg: None)
    yield con, {o.path.name: o for o in outcomes}
    con.close()


def test_every_file_has_a_case_and_a_readme_line() -> None:
    files = {p.name for p in (CORPUS / "comtrade").iterdir()}
    assert files == set(CASES)
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme or name.split("_released")[0] in readme for name in files)


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_file(ingested, name: str) -> None:
    con, outcomes = ingested
    case = CASES[name]
    outcome = outcomes[name]
    assert outcome.status == case["status"], outcome.as_line()
    counts = (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined)
    assert counts == (case["read"], case["loaded"], case["quarantined"]), outcome.as_line()
    assert outcome.rows_read == outcome.rows_loaded + outcome.rows_quarantined

    path = str(outcome.path)
    [(status, read, loaded, quarantined, message)] = con.execute(
        "select status, rows_read, rows_loaded, rows_quarantined, message "
        "from raw.file_registry where path = ?",
        [path],
    ).fetchall()
    assert status == case["status"]
    if case["status"] == "loaded":
        assert (read, loaded, quarantined) == counts
    in_raw = con.execute(
        "select count(*) from raw.comtrade_final where _source_file = ?", [path]
    ).fetchone()[0]
    reasons = [
        r[0]
        for r in con.execute(
            "select reason from raw.quarantine where source_file = ? order by line_number",
            [path],
        ).fetchall()
    ]
    assert in_raw == case["loaded"]  # a refused or duplicate file leaves nothing in raw
    assert len(reasons) == case["quarantined"]
    if case["status"] in ("refused", "duplicate"):
        assert case["reason"] in (message or ""), message
        assert "\n" not in (message or "")  # one line, fit for the run summary
    elif "reasons" in case:
        assert reasons == case["reasons"] or sorted(reasons) == sorted(case["reasons"])
    elif "reason" in case:
        assert all(case["reason"] in r for r in reasons), reasons


def test_quarantined_rows_name_their_line_and_column(ingested) -> None:
    con, _ = ingested
    rows = con.execute(
        "select regexp_extract(source_file, '[^/]+$'), line_number, column_name, raw_value "
        "from raw.quarantine order by 1, 2"
    ).fetchall()
    assert ("excel_mangled_hs.csv", 3, "cmdCode", "2.709E+05") in rows
    assert ("negative_and_text_values.csv", 3, "netWgt", "n/a") in rows
    assert ("unknown_codes.csv", 2, "partnerCode", "999") in rows
    # an unreadable line names the column where it broke (not the reader's `_c21`)
    assert ("truncated_last_line.csv", 6, "cmdDesc", None) in rows
    assert not any(str(r[2]).startswith("_c") for r in rows)


def test_lost_leading_zero_loads_as_delivered(ingested) -> None:
    con, _ = ingested
    codes = con.execute(
        "select cmdCode from raw.comtrade_final where _source_file like '%excel_mangled_hs.csv'"
    ).fetchall()
    assert codes == [("70310",)]  # raw keeps what was delivered; staging pads it to 070310


def test_nothing_half_loaded(ingested) -> None:
    """Row accounting over the whole corpus: raw + quarantine = what the registry says."""
    con, outcomes = ingested
    raw = con.execute("select count(*) from raw.comtrade_final").fetchone()[0]
    quarantined = con.execute("select count(*) from raw.quarantine").fetchone()[0]
    assert raw == sum(o.rows_loaded for o in outcomes.values())
    assert quarantined == sum(o.rows_quarantined for o in outcomes.values())
    assert raw + quarantined == sum(o.rows_read for o in outcomes.values())


def test_a_second_ingest_is_a_no_op(ingested, tmp_path: Path) -> None:
    con, outcomes = ingested
    before = con.execute("select count(*) from raw.comtrade_final").fetchone()[0]
    again = ingest_files(
        con, comtrade.SPEC, [o.path for o in outcomes.values()], log=lambda _msg: None
    )
    assert {o.status for o in again} == {"unchanged"}
    assert con.execute("select count(*) from raw.comtrade_final").fetchone()[0] == before
