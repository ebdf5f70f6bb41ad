"""The landing files behind a row of the mirror table: where a person checks a declaration.

A mirror row (freq x period x exporter x importer x HS6) comes from the exporter's export
declaration and the importer's import declaration. Their current file versions are found in
the staging models of each source (``source_file`` of the rows that are totals, not
breakdowns). Best effort: a source whose staging model is missing (a warehouse built before it,
a test fixture) or whose delivered code differs from the HS 2022 code (concordance) gives none.
"""

from __future__ import annotations

from typing import Any

import duckdb

# For each source: the rows of the exporter's X and the importer's M declaration of one flow.
# Parameters: freq, period, exporter, importer, hs6 (twice each side where needed).
_LOOKUPS = {
    "comtrade": """
        select distinct s.source_file
        from staging.stg_comtrade__final as s
        join marts.dim_country as r on r.comtrade_code = s.reporter_code
        join marts.dim_country as p on p.comtrade_code = s.partner_code
        where s.is_current_file_version and not s.is_breakdown
          and s.freq = $freq and s.period = $period and s.cmd_code = $hs6
          and ((s.flow_code = 'X' and r.iso3 = $exporter and p.iso3 = $importer)
            or (s.flow_code = 'M' and r.iso3 = $importer and p.iso3 = $exporter))
    """,
    "comext": """
        select distinct s.source_file
        from staging.stg_comext__monthly as s
        join marts.dim_country as r on r.iso2 = s.reporter_iso2 and r.is_country
        join marts.dim_country as p on p.iso2 = s.partner_iso2 and p.is_country
        where s.is_current_file_version and s.hs6 = $hs6
          and ((s.flow_code = 'X' and r.iso3 = $exporter and p.iso3 = $importer)
            or (s.flow_code = 'M' and r.iso3 = $importer and p.iso3 = $exporter))
          and (($freq = 'M' and not s.is_annual_total and s.period = $period)
            or ($freq = 'A' and s.is_annual_total and left(s.period, 4) = $period))
    """,
}


def source_files(con: duckdb.DuckDBPyConnection, row: dict[str, Any], limit: int = 6) -> list[str]:
    """Paths of the current landing files declaring ``row``'s flow (either side), sorted."""
    params = {k: str(row.get(k) or "") for k in ("freq", "period", "exporter", "importer", "hs6")}
    params |= {
        "exporter": str(row.get("exporter_iso3") or ""),
        "importer": str(row.get("importer_iso3") or ""),
    }
    found: set[str] = set()
    for sql in _LOOKUPS.values():
        try:
            found.update(r[0] for r in con.execute(sql, params).fetchall() if r[0])
        except duckdb.Error:  # the source's staging model is not in this warehouse
            continue
    return sorted(found)[:limit]
