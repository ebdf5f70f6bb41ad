"""How close the warehouse's FOB import values are to the truth, on a synthetic world.

    uv run python benchmarks/cif_fob_accuracy.py WAREHOUSE.duckdb WORLD/ground_truth

The error of a row is |import_value_fob_usd / true_value_fob_usd - 1|, over *clean* keys:
both sides declared and no planted distortion of any kind (``distortions.parquet``; keys are
joined as in benchmarks/accuracy.py). It measures the CIF->FOB step alone: the importer's own
declaration noise is in it (the floor), gaps are not. Reported overall, by frequency, by
``cif_fob_method`` and by year. The margin columns compare ``cif_fob_margin`` with the true
margin; for ``reported_fob`` rows of FOB-only importers the applied margin is 0 by design, so
only the value error means something there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import duckdb

KEY = ("freq", "period", "exporter_iso3", "importer_iso3", "hs6")
GROUPINGS = {
    "all": "",
    "by_freq": "freq",
    "by_method": "freq, cif_fob_method",
    "by_year": "freq, left(period, 4) AS year",
}


def cif_fob_error(warehouse: Path, ground_truth: Path) -> dict[str, list[dict[str, Any]]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    gt = str(ground_truth)
    planted_on = " AND ".join(f"p.{k} = t.{k}" for k in KEY)
    on = " AND ".join(f"w.{k} = t.{k}" for k in KEY)
    con.execute(
        f"""
        CREATE TEMP VIEW clean_rows AS
        WITH t AS (
            SELECT * FROM read_parquet('{gt}/true_flows.parquet') t
            WHERE NOT EXISTS (
                SELECT 1 FROM read_parquet('{gt}/distortions.parquet') p WHERE {planted_on}
            )
        )
        SELECT w.freq, w.period, w.cif_fob_method, w.cif_fob_margin, t.true_cif_fob_margin,
               t.true_value_fob_usd,
               abs(w.import_value_fob_usd / t.true_value_fob_usd - 1) AS value_error
        FROM marts.fct_mirror_trade w JOIN t ON {on}
        WHERE w.export_value_usd IS NOT NULL AND w.import_value_usd IS NOT NULL
        """
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for name, group in GROUPINGS.items():
        select = f"{group}," if group else ""
        group_by = "GROUP BY ALL ORDER BY ALL" if group else ""
        frame = con.execute(
            f"""
            SELECT {select} count(*) AS keys,
                   100 * median(value_error) AS median_abs_error_pct,
                   100 * quantile_cont(value_error, 0.9) AS p90_abs_error_pct,
                   100 * median(abs(cif_fob_margin - true_cif_fob_margin))
                       AS median_margin_error_pp,
                   100 * sum(abs(cif_fob_margin - true_cif_fob_margin) * true_value_fob_usd)
                       / sum(true_value_fob_usd) AS value_weighted_margin_error_pp
            FROM clean_rows {group_by}
            """
        ).df()
        out[name] = frame.round(3).to_dict(orient="records")
    con.close()
    return out


if __name__ == "__main__":
    print(json.dumps(cif_fob_error(Path(sys.argv[1]), Path(sys.argv[2])), indent=1, default=str))
