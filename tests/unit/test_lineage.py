"""The landing files behind offending mirror rows (quality/lineage.py): one lookup for many rows."""

from __future__ import annotations

import duckdb

from dagster_project.quality import lineage


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema staging; create schema marts")
    con.execute(
        "create table marts.dim_country as select * from (values "
        "('KAZ', 'KZ', '398', true), ('ITA', 'IT', '380', true), ('AUT', 'AT', '040', true), "
        "('DEU', 'DE', '276', true)) as t (iso3, iso2, comtrade_code, is_country)"
    )
    con.execute(
        "create table staging.stg_comtrade__final as select * from (values "
        # the exporter's X and the importer's M of KAZ->ITA 2709 in 202401
        "('kz_2024.csv', true, false, 'M', '202401', '270900', 'X', '398', '380'), "
        "('it_2024.csv', true, false, 'M', '202401', '270900', 'M', '380', '398'), "
        # a replaced file version and a breakdown row: not what a person should open
        "('it_2024_old.csv', false, false, 'M', '202401', '270900', 'M', '380', '398'), "
        "('it_2024_parts.csv', true, true, 'M', '202401', '270900', 'M', '380', '398'), "
        # another period, another code: not these flows
        "('kz_2023.csv', true, false, 'M', '202312', '270900', 'X', '398', '380'), "
        "('kz_gas.csv', true, false, 'M', '202401', '271111', 'X', '398', '380'), "
        # the annual flow KAZ->AUT
        "('at_2023.csv', true, false, 'A', '2023', '270900', 'M', '040', '398')"
        ") as t (source_file, is_current_file_version, is_breakdown, freq, period, cmd_code, "
        "flow_code, reporter_code, partner_code)"
    )
    con.execute(
        "create table staging.stg_comext__monthly as select * from (values "
        "('comext_de.dat', true, '270900', 'M', 'DE', 'KZ', false, '202401'), "
        "('comext_de_year.dat', true, '270900', 'M', 'DE', 'KZ', true, '202352')"
        ") as t (source_file, is_current_file_version, hs6, flow_code, reporter_iso2, "
        "partner_iso2, is_annual_total, period)"
    )
    return con


def _row(freq: str, period: str, exporter: str, importer: str, hs6: str) -> dict[str, str]:
    return {
        "freq": freq,
        "period": period,
        "exporter_iso3": exporter,
        "importer_iso3": importer,
        "hs6": hs6,
    }


def test_each_row_gets_the_current_files_of_its_own_flow() -> None:
    rows = [
        _row("M", "202401", "KAZ", "ITA", "270900"),
        _row("A", "2023", "KAZ", "AUT", "270900"),
        _row("M", "202401", "KAZ", "DEU", "270900"),
        _row("A", "2023", "KAZ", "DEU", "270900"),
        _row("M", "202401", "ITA", "KAZ", "270900"),  # the reverse flow: nobody declared it
    ]
    assert lineage.source_files(_warehouse(), rows) == [
        ["it_2024.csv", "kz_2024.csv"],
        ["at_2023.csv"],
        ["comext_de.dat"],
        ["comext_de_year.dat"],
        [],
    ]


def test_no_rows_and_a_missing_source_are_no_error() -> None:
    con = _warehouse()
    assert lineage.source_files(con, []) == []
    con.execute("drop table staging.stg_comext__monthly")
    quoted = _row("M", "202401", "KAZ", "IT'A", "270900")  # a quote in a value stays a value
    assert lineage.source_files(con, [_row("M", "202401", "KAZ", "ITA", "270900"), quoted]) == [
        ["it_2024.csv", "kz_2024.csv"],
        [],
    ]
