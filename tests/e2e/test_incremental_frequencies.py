"""A month that changes which frequencies a reporter declares rebuilds every period (issue 15).

The gaps and what judges them (dbt macros ``window_periods``, ``trailing_periods``) are rebuilt
by the periods of what changed, except when a reporter starts (or stops) declaring a flow at a
frequency: a one-sided flow whose silent reporter "declares no imports at this frequency in any
period" (`non_reporting_partner`) is, once it declares one, a reporter that "declared nothing
that period" (`partner_not_reported`), in every period.

The sample plus AUT's exports of laptops to KAZ in three months of 2020 (KAZ declares exports
only: `non_reporting_partner`); then KAZ's first import declaration, in 202412. The build of that
month must rebuild every period, the 2020 flows must say `partner_not_reported`, and the marts
must equal a full rebuild's (the test fails if the periods stay those of 202412: the 2020 rows
keep their old status).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.compare_warehouses import compare
from tests.conftest import SAMPLE_COMTRADE
from tests.e2e.test_incremental_build import (
    Builds,
    _dbt_build_line,
    _fields,
    _periods_rebuilt,
    _query,
    _write,
    build_change_and_rebuild,
)

LAPTOPS = "847130"
EXPORTS_FILE = "comtrade_final_M_AUT_2020_exports_released-2025-07-31.csv"
IMPORTS_FILE = "comtrade_final_M_KAZ_202412_imports_released-2025-07-31.csv"
EXPORT_MONTHS = ("202001", "202002", "202003")


def _row(
    period: str, reporter: tuple[str, str], flow: str, partner: tuple[str, str]
) -> dict[str, str]:
    """A monthly HS6 total declaration, shaped as the sample's rows."""
    row = dict.fromkeys(_fields(), "")
    row.update(
        {
            "typeCode": "C",
            "freqCode": "M",
            "refPeriodId": f"{period}01",
            "refYear": period[:4],
            "refMonth": str(int(period[4:])),
            "period": period,
            "reporterCode": reporter[0],
            "reporterISO": reporter[1],
            "flowCode": flow,
            "flowDesc": "Export" if flow == "X" else "Import",
            "partnerCode": partner[0],
            "partnerISO": partner[1],
            "partner2Code": "0",
            "partner2ISO": "W00",
            "classificationCode": "H5",
            "classificationSearchCode": "HS",
            "isOriginalClassification": "True",
            "cmdCode": LAPTOPS,
            "aggrLevel": "6",
            "isLeaf": "True",
            "customsCode": "C00",
            "mosCode": "0",
            "motCode": "0",
            "qtyUnitCode": "8",
            "qtyUnitAbbr": "kg",
            "netWgt": "12000",
            "fobvalue": "2500000" if flow == "X" else "",
            "cifvalue": "2600000" if flow == "M" else "",
            "primaryValue": "2500000" if flow == "X" else "2600000",
            "legacyEstimationFlag": "0",
            "isReported": "True",
            "isAggregate": "False",
        }
    )
    return row


def _statuses(warehouse: Path) -> set[object]:
    rows = _query(
        warehouse,
        "SELECT DISTINCT status FROM marts.fct_mirror_trade "
        f"WHERE exporter_iso3 = 'AUT' AND importer_iso3 = 'KAZ' AND hs6 = '{LAPTOPS}' "
        "AND period LIKE '2020%'",
    )
    return {r[0] for r in rows}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    root = tmp_path_factory.mktemp("frequencies")
    landing = root / "landing"
    shutil.copytree(SAMPLE_COMTRADE, landing / "comtrade")
    exports = [_row(m, ("40", "AUT"), "X", ("398", "KAZ")) for m in EXPORT_MONTHS]
    _write(landing / "comtrade" / EXPORTS_FILE, _fields(), exports)

    def kaz_declares_an_import() -> None:
        imports = [_row("202412", ("398", "KAZ"), "M", ("276", "DEU"))]
        _write(landing / "comtrade" / IMPORTS_FILE, _fields(), imports)

    yield build_change_and_rebuild(root, landing, kaz_declares_an_import)


def test_a_reporter_that_never_declared_imports_is_a_non_reporting_partner(
    builds: Builds,
) -> None:
    assert _statuses(builds.first_copy) == {"non_reporting_partner"}


def test_its_first_import_declaration_rebuilds_every_period(builds: Builds) -> None:
    assert (
        _dbt_build_line(builds.incremental) == "1 period(s) (1 file version(s) changed): M:202412"
    )
    # the timing windows read declarations only: the periods whose window reaches 202412
    assert _periods_rebuilt(builds.incremental) == {
        "int_mirror__timing_windows": "M:202411, M:202412, M:202501",
        "int_mirror__gaps": "every period",
        "int_mirror__classification": "every period",
        "int_unallocated__claims": "every period",
        **{f"int_unallocated__step_{step}": "every period" for step in range(1, 6)},
        "int_unallocated__allocation": "every period",
        "fct_mirror_trade": "every period",
        "fct_reconciled_trade": "every period",
    }
    # KAZ now declares imports monthly, only not in 2020
    assert _statuses(builds.incremental_copy) == {"partner_not_reported"}


def test_the_result_equals_a_full_rebuild(builds: Builds) -> None:
    problems = compare(builds.incremental_copy, builds.full.warehouse, ["marts"], set(), out=print)
    assert problems == []
