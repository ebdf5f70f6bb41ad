"""benchmarks/accuracy.py on a hand-made warehouse and ground truth: every metric counts what
its definition says, and a metric the warehouse cannot answer is reported as an error."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from accuracy import evaluate, one_sided_floors, target_checks

KEY = ["freq", "period", "exporter_iso3", "importer_iso3", "hs6"]

# kind, variant, detail, x, m, material, warehouse status
PLANTED = [
    ("transit", "origin->hub", "c1", 100.0, None, True, "explained_transit"),
    ("transit", "origin->destination", "c1", None, 80.0, True, "breach"),
    ("nes_partner", "839 whole", "XX", 50.0, None, True, "explained_unallocated"),
    ("nes_area", "839 whole", "FRA", 50.0, None, True, "unallocated"),
    ("misclassification", "same_heading whole", "to 010102", 40.0, None, True, "breach"),
    ("misclassification", "same_heading whole", "from 010101", None, 42.0, True, "export_only"),
    ("misclassification", "same_heading share", "to 010102", 5.0, 5.2, False, "ok"),
    ("unreliable_reporter", "sigma 0.35", "", 10.0, 30.0, True, "breach"),
    ("non_reporting", "never reports", "", 60.0, None, True, "non_reporting_partner"),
]
STATUSES_YML = """
statuses:
  ok: {class: compared}
  breach: {class: compared}
  explained_transit: {class: explained}
  explained_unallocated: {class: explained}
  unallocated: {class: not_compared}
  non_reporting_partner: {class: not_compared}
"""


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("harness")
    gt = root / "ground_truth"
    gt.mkdir()
    planted = pd.DataFrame(
        [
            {"kind": k, "variant": v, "detail": d, "side": "X", "expected": "", "freq": "A",
             "period": "2022", "exporter_iso3": "DEU", "importer_iso3": f"I{n:02d}",
             "hs6": "010101", "declared_export_usd": x, "declared_import_usd": m,
             "planted_gap_pct": 0.0, "tolerance_pct": 10.0, "planted_share": None,
             "material": mat}
            for n, (k, v, d, x, m, mat, _s) in enumerate(PLANTED)
        ]
    )  # fmt: skip
    clean = pd.DataFrame(
        [
            # importer_iso3, truth, import_value_usd, import_value_fob_usd
            ("C01", 100.0, 107.0, 101.0),
            ("C02", 200.0, 212.0, 204.0),
            ("C03", 100.0, 100.0, 95.0),  # a FOB importer deflated anyway
        ],
        columns=["importer_iso3", "truth", "m", "m_fob"],
    )
    con = duckdb.connect()
    con.register("planted_df", planted)
    con.execute(f"COPY planted_df TO '{gt / 'distortions.parquet'}' (FORMAT parquet)")
    truth = clean.assign(freq="A", period="2022", exporter_iso3="DEU", hs6="010101")
    truth = truth.rename(columns={"truth": "true_value_fob_usd"})[
        [*KEY, "true_value_fob_usd"]
    ].assign(true_net_weight_kg=1.0, true_cif_fob_margin=0.06)
    con.register("truth_df", truth)
    con.execute(f"COPY truth_df TO '{gt / 'true_flows.parquet'}' (FORMAT parquet)")
    (gt / "reporters.csv").write_text(
        "iso3,unreliable,import_valuation\nC01,False,cif\nC02,False,cif\nC03,False,fob\n"
    )
    (gt / "corridors.csv").write_text(
        "corridor_id,origin_iso3,hub_iso3,destinations_iso3,hs_prefix,consignment_rows,"
        "hub_imports\nc1,DEU,NLD,BEL,0101,false,true\n"
    )
    wh = root / "w.duckdb"
    w = duckdb.connect(str(wh))
    w.execute("CREATE SCHEMA marts")
    w.execute(
        "CREATE TABLE marts.fct_mirror_trade (freq VARCHAR, period VARCHAR, exporter_iso3 VARCHAR,"
        " importer_iso3 VARCHAR, hs6 VARCHAR, status VARCHAR, quantity_flag VARCHAR,"
        " is_revised BOOLEAN, export_value_usd DOUBLE, import_value_usd DOUBLE,"
        " import_value_fob_usd DOUBLE, cif_fob_margin DOUBLE)"
    )
    for n, (*_rest, status) in enumerate(PLANTED):
        w.execute(
            "INSERT INTO marts.fct_mirror_trade VALUES "
            "('A', '2022', 'DEU', ?, '010101', ?, NULL, false, 1, 1, 1, 0.06)",
            [f"I{n:02d}", status],
        )
    for c in clean.itertuples():
        w.execute(
            "INSERT INTO marts.fct_mirror_trade VALUES "
            "('A', '2022', 'DEU', ?, '010101', 'ok', NULL, false, ?, ?, ?, 0.06)",
            [c.importer_iso3, c.truth, c.m, c.m_fob],
        )
    w.execute(  # a breach nobody planted
        "INSERT INTO marts.fct_mirror_trade VALUES "
        "('A', '2022', 'DEU', 'ZZZ', '010101', 'breach', NULL, false, 1, 2, 2, 0.06)"
    )
    w.close()
    statuses = root / "statuses.yml"
    statuses.write_text(STATUSES_YML)
    return evaluate(wh, gt, statuses_yml=statuses, floors={"A": 45.0, "M": 0.0})


def test_kind_shares_count_material_keys_whose_status_names_the_cause(scored: dict) -> None:
    a = scored["by_freq"]["A"]
    assert a["kinds"]["transit"]["hits"] == 1 and a["kinds"]["transit"]["material"] == 2
    assert a["kinds"]["misclassification"]["material"] == 2  # the immaterial key is left out
    assert a["kinds"]["misclassification"]["share"] == 0.0
    assert a["kinds"]["misclassification"]["missed_as"] == {"breach": 1, "export_only": 1}
    assert a["groups"]["nes_confidential"] == {"material": 2, "hits": 2, "share": 1.0}
    assert a["transit"]["origin_to_hub"]["share"] == 1.0
    assert a["transit"]["origin_to_destinations|values_only"]["share"] == 0.0


def test_breach_precision_counts_only_breaches_an_alarm_is_right_for(scored: dict) -> None:
    """Four breaches: the unreliable reporter's (deserved), a transit destination and a
    misclassified key (innocent: false alarms although planted) and one nobody planted."""
    b = scored["by_freq"]["A"]["breach"]
    assert (b["rows"], b["deserved"]) == (4, 1)
    assert b["precision"] == pytest.approx(0.25)
    assert b["planted_any"] == pytest.approx(0.75)
    assert b["alarm_kinds"] == ["unreliable_reporter"]
    assert b["rows_by_kind"]["(not planted)"] == 1


def test_one_sided_reach_uses_the_status_classes_and_the_floor(scored: dict) -> None:
    r = scored["by_freq"]["A"]["one_sided_reach"]
    # one-sided judged keys at or above 45: transit hub 100 (explained), transit destination 80
    # (breach: compared), nes_partner 50 (explained); misclassification 40/42 are below the floor
    assert (r["keys"], r["reached"]) == (3, 3)


def test_cif_fob_error_on_clean_keys_next_to_the_fixed_factor(scored: dict) -> None:
    c = scored["by_freq"]["A"]["cif_fob"]
    assert c["keys"] == 3
    assert c["median_abs_error"] == pytest.approx(0.02)  # 1 %, 2 %, 5 %
    assert c["by_valuation"]["fob"]["median_abs_error"] == pytest.approx(0.05)
    assert c["median_abs_error_fixed_1_06"] == pytest.approx(abs(107 / 1.06 / 100 - 1))


def test_metrics_the_warehouse_cannot_answer_are_errors_not_numbers(scored: dict) -> None:
    assert "error" in scored["by_freq"]["A"]["balanced"]  # no fct_reconciled_trade here
    assert "error" in scored["duplicate_file_detected"]
    checks = {(f, m): met for f, m, _v, _t, met in target_checks(scored)}
    assert checks[("A", "nes_confidential")] and not checks[("A", "classification")]
    assert not checks[("A", "breach_precision")]  # 0.25


def test_one_sided_floor_from_the_dbt_project(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project.yml"
    project.write_text("vars:\n  one_sided_materiality_floor_usd: {annual: 50000, M: 10000}\n")
    assert one_sided_floors(project) == {"A": 50000.0, "M": 10000.0}
    project.write_text("vars:\n  one_sided_materiality_floor_usd: 1000\n")
    assert one_sided_floors(project) == {"A": 1000.0, "M": 1000.0}
    project.write_text("vars: {}\n")
    assert one_sided_floors(project) == {"A": 0.0, "M": 0.0}
    # the project's own setting is found (its value is the project's business)
    assert all(v > 0 for v in one_sided_floors().values())
