"""Accuracy of a warehouse built from a synthetic world, against the world's ground truth.

Definitions (the mirror key is freq x period x exporter_iso3 x importer_iso3 x hs6):

* planted key: a key listed in ``ground_truth/distortions.parquet`` (a key can carry several
  kinds, e.g. both sides of a misclassification); *material* when the distortion makes the
  declared values differ beyond the HS chapter's tolerance after the true margin (or a side
  is missing); unit errors, revisions and 899 keys are always material.
* recall of a kind = share of its material planted keys whose warehouse row says what the
  kind expects: ``transit`` -> status ``explained_transit``; ``timing_lag`` ->
  ``explained_timing``; ``misclassification``, ``confidential``, ``unreliable_reporter`` ->
  flagged (status ``breach``, ``import_only`` or ``export_only``); ``unit_error`` ->
  ``quantity_flag = likely_unit_error_x1000``; ``confidential_partner`` (the 899 key) ->
  ``unallocated``; ``revision`` -> the later release won (``is_revised`` and status ``ok`` or
  ``explained_cif_fob``). A key without a warehouse row is a miss. Overall recall = hits /
  material planted keys, all kinds together.
* precision = share of ``breach`` rows whose key is planted (any kind, material or not);
  also given for every flagged row (breach, import_only, export_only).
* balanced error, on keys with a true flow and no planted distortion of any kind:
  value-weighted absolute error sum|balanced - true| / sum true of
  ``fct_reconciled_trade.balanced_value_usd`` against the true FOB value, the median absolute
  % error, and the share of rows within 2 %. The same on rows touched only by an unreliable
  reporter, next to the error of the simple mean of both sides (what weighting buys).
* margin error: value-weighted mean |estimated - true| CIF/FOB margin (percentage points) over
  keys both sides declared.
* duplicate file: the registry marks one of the two identical files ``duplicate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

EXPECTATION_SQL = {
    "transit": "w.status = 'explained_transit'",
    "timing_lag": "w.status = 'explained_timing'",
    "misclassification": "w.status IN ('breach', 'import_only', 'export_only')",
    "confidential": "w.status IN ('breach', 'import_only', 'export_only')",
    "unreliable_reporter": "w.status IN ('breach', 'import_only', 'export_only')",
    "unit_error": "w.quantity_flag = 'likely_unit_error_x1000'",
    "confidential_partner": "w.status = 'unallocated'",
    "revision": "w.is_revised AND w.status IN ('ok', 'explained_cif_fob')",
}
KEY = ("freq", "period", "exporter_iso3", "importer_iso3", "hs6")


def evaluate(warehouse: Path, ground_truth: Path) -> dict[str, Any]:
    con = duckdb.connect(str(warehouse), read_only=True)
    gt = str(ground_truth)
    con.execute(
        f"CREATE TEMP TABLE planted AS SELECT * FROM read_parquet('{gt}/distortions.parquet')"
    )
    con.execute(f"CREATE TEMP VIEW truth AS SELECT * FROM read_parquet('{gt}/true_flows.parquet')")
    on = " AND ".join(f"w.{k} = p.{k}" for k in KEY)
    hit = "CASE p.kind " + " ".join(
        f"WHEN '{k}' THEN coalesce({cond}, false)" for k, cond in EXPECTATION_SQL.items()
    ) + " END"  # fmt: skip
    rows = con.execute(
        f"""
        SELECT p.kind, count(*) AS material, count(*) FILTER ({hit}) AS hits
        FROM planted p LEFT JOIN marts.fct_mirror_trade w ON {on}
        WHERE p.material GROUP BY p.kind ORDER BY p.kind
        """
    ).fetchall()
    per_kind = {k: {"material": m, "hits": h, "recall": h / m if m else None} for k, m, h in rows}
    misses = con.execute(
        f"""
        SELECT p.kind, coalesce(w.status, '(no row)'), count(*)
        FROM planted p LEFT JOIN marts.fct_mirror_trade w ON {on}
        WHERE p.material AND NOT coalesce({hit}, false) GROUP BY ALL ORDER BY 1, 3 DESC
        """
    ).fetchall()
    for kind, status, count in misses:
        per_kind[kind].setdefault("missed_as", {})[status] = count
    total_m = sum(v["material"] for v in per_kind.values())
    total_h = sum(v["hits"] for v in per_kind.values())
    keys = ", ".join(KEY)
    con.execute(f"CREATE TEMP TABLE planted_keys AS SELECT DISTINCT {keys} FROM planted")
    pk_on = " AND ".join(f"w.{k} = k.{k}" for k in KEY)
    breach, breach_planted, flagged, flagged_planted = con.execute(
        f"""
        SELECT count(*) FILTER (w.status = 'breach'),
               count(*) FILTER (w.status = 'breach' AND k.hs6 IS NOT NULL),
               count(*) FILTER (w.status IN ('breach', 'import_only', 'export_only')),
               count(*) FILTER (w.status IN ('breach', 'import_only', 'export_only')
                                AND k.hs6 IS NOT NULL)
        FROM marts.fct_mirror_trade w LEFT JOIN planted_keys k ON {pk_on}
        """
    ).fetchone()
    t_on = " AND ".join(f"r.{k} = t.{k}" for k in KEY)
    only_unreliable = (
        f"SELECT {keys} FROM planted GROUP BY ALL HAVING bool_and(kind = 'unreliable_reporter')"
    )
    balanced = {}
    for name, filt in (
        ("clean", f"ANTI JOIN planted_keys k ON {t_on.replace('r.', 'k.')}"),
        ("unreliable_only", f"SEMI JOIN ({only_unreliable}) k ON {t_on.replace('r.', 'k.')}"),
    ):
        r = con.execute(
            f"""
            WITH t AS (SELECT * FROM truth t {filt}),
            j AS (
                SELECT t.true_value_fob_usd AS truth, r.balanced_value_usd AS b,
                       (r.reported_export_value_usd + r.reported_import_value_fob_usd) / 2
                           AS mean2
                FROM t JOIN marts.fct_reconciled_trade r ON {t_on}
            )
            SELECT count(*), sum(abs(b - truth)) / sum(truth),
                   median(abs(b - truth) / truth),
                   avg(CASE WHEN abs(b - truth) <= 0.02 * truth THEN 1.0 ELSE 0.0 END),
                   sum(abs(mean2 - truth)) / sum(truth)
            FROM j WHERE b IS NOT NULL
            """
        ).fetchone()
        balanced[name] = {
            "rows": r[0],
            "value_weighted_abs_error": r[1],
            "median_abs_pct_error": r[2],
            "share_within_2pct": r[3],
            "simple_mean_value_weighted_abs_error": r[4],
        }
    m_on = " AND ".join(f"w.{k} = t.{k}" for k in KEY)
    margin = con.execute(
        f"""
        SELECT sum(abs(w.cif_fob_margin - t.true_cif_fob_margin) * t.true_value_fob_usd)
               / sum(t.true_value_fob_usd)
        FROM marts.fct_mirror_trade w JOIN truth t ON {m_on}
        WHERE w.export_value_usd IS NOT NULL AND w.import_value_usd IS NOT NULL
        """
    ).fetchone()[0]
    duplicate = con.execute(
        "SELECT count(*) FROM raw.file_registry WHERE status = 'duplicate' "
        "AND regexp_matches(path, 'released-[0-9-]+( \\(1\\))?\\.csv')"
    ).fetchone()[0]
    reliability = con.execute(
        f"""
        WITH r AS (SELECT * FROM read_csv('{gt}/reporters.csv'))
        SELECT avg(s.reliability_score) FILTER (r.unreliable),
               avg(s.reliability_score) FILTER (NOT r.unreliable)
        FROM marts.fct_reporter_reliability s JOIN r ON s.reporter_iso3 = r.iso3
        """
    ).fetchone()
    con.close()
    return {
        "recall": total_h / total_m if total_m else None,
        "recall_by_kind": per_kind,
        "material_planted_keys": total_m,
        "breach_rows": breach,
        "precision": breach_planted / breach if breach else None,
        "flagged_rows": flagged,
        "flagged_precision": flagged_planted / flagged if flagged else None,
        "balanced": balanced,
        "margin_abs_error_pp": 100 * margin if margin is not None else None,
        "duplicate_file_detected": duplicate >= 1,
        "reliability_score_unreliable": reliability[0],
        "reliability_score_others": reliability[1],
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(evaluate(Path(sys.argv[1]), Path(sys.argv[2])), indent=2, default=str))
