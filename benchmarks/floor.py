"""The FLOOR: bare DuckDB reading the landing files with read_csv and ONE SQL query producing
the mirror table (X against M/1.06 on freq x period x exporter x importer x HS6, total rows only,
the latest release of a record wins). No ingest bookkeeping, no typing rules, no tests.

    python benchmarks/floor.py LANDING_DIR COUNTRY_CODES_CSV OUT.parquet
"""

from __future__ import annotations

import os
import sys
import time

import duckdb

QUERY = r"""
COPY (
WITH raw AS (
    SELECT "freqCode" AS freq, period, "reporterCode"::INTEGER AS reporter_code,
           "flowCode" AS flow, "partnerCode"::INTEGER AS partner_code,
           CASE WHEN length("cmdCode") = 5 THEN '0' || "cmdCode" ELSE "cmdCode" END AS hs6,
           "primaryValue"::DOUBLE AS value_usd,
           regexp_extract(filename, 'released-(\d{4}-\d{2}-\d{2})', 1) AS release,
           filename
    FROM read_csv($files, header = true, all_varchar = true, filename = true,
                  union_by_name = false)
    WHERE "customsCode" = 'C00' AND "motCode" = '0' AND "mosCode" = '0'
      AND "partner2Code" = '0' AND "aggrLevel" = '6' AND "partnerCode" <> '0'
      AND "flowCode" IN ('X', 'M')
),
latest AS (
    SELECT * FROM raw
    QUALIFY row_number() OVER (
        PARTITION BY freq, period, reporter_code, flow, partner_code, hs6
        ORDER BY release DESC, filename DESC) = 1
),
areas AS (
    SELECT comtrade_code::INTEGER AS code, nullif(iso3, '') AS iso3
    FROM read_csv($codes, header = true, all_varchar = true)
),
declared AS (
    SELECT freq, period, flow, hs6,
           coalesce(r.iso3, '#' || reporter_code) AS reporter,
           coalesce(p.iso3, '#' || partner_code) AS partner,
           sum(value_usd) AS value_usd
    FROM latest
    LEFT JOIN areas AS r ON r.code = reporter_code
    LEFT JOIN areas AS p ON p.code = partner_code
    GROUP BY ALL
),
x AS (SELECT * FROM declared WHERE flow = 'X'),
m AS (SELECT * FROM declared WHERE flow = 'M')
SELECT coalesce(x.freq, m.freq) AS freq,
       coalesce(x.period, m.period) AS period,
       coalesce(x.reporter, m.partner) AS exporter_iso3,
       coalesce(x.partner, m.reporter) AS importer_iso3,
       coalesce(x.hs6, m.hs6) AS hs6,
       x.value_usd AS export_value_usd,
       m.value_usd AS import_value_usd,
       m.value_usd / 1.06 AS import_value_fob_usd,
       m.value_usd / 1.06 - x.value_usd AS gap_usd
FROM x FULL OUTER JOIN m
  ON x.freq = m.freq AND x.period = m.period AND x.reporter = m.partner
 AND x.partner = m.reporter AND x.hs6 = m.hs6
) TO $out (FORMAT parquet)
"""


def main(landing: str, codes: str, out: str) -> None:
    started = time.monotonic()
    # the pipeline's memory setting, when the benchmark caps it: same cap, same spilling
    limit = os.environ.get("MIRROR_DUCKDB_MEMORY_LIMIT")
    # spill beside the output, not into ./.tmp of whatever folder the benchmark runs from
    spill = os.path.join(os.path.dirname(os.path.abspath(out)), ".floor-spill")
    con = duckdb.connect(
        config={"temp_directory": spill, **({"memory_limit": limit} if limit else {})}
    )
    files = f"{landing.rstrip('/')}/comtrade/**/*.csv*"
    con.execute(QUERY.replace("$out", "'" + out.replace("'", "''") + "'"), {
        "files": files, "codes": codes})  # fmt: skip
    print(f"floor: {time.monotonic() - started:.2f}s", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:4])
