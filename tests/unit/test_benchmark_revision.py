"""The benchmark's revised reporter-year (benchmarks/run.py): the costliest annual file of the
year, a tenth of its rows revised, released later so that it supersedes the original."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks.run import REVISED_YEAR, median_try, revise_reporter_year

HEADER = ["freqCode", "period", "reporterISO", "primaryValue", "cifvalue", "fobvalue"]


def write(path: Path, reporter: str, rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(["A", REVISED_YEAR, reporter, f"{100 + i}.00", "", f"{50 + i}.00"])


def test_the_largest_annual_file_of_the_year_is_revised_and_released_later(
    tmp_path: Path,
) -> None:
    comtrade = tmp_path / "landing" / "comtrade"
    small = comtrade / f"comtrade_final_A_AGO_{REVISED_YEAR}_released-2025-06-30.csv"
    large = comtrade / f"comtrade_final_A_DEU_{REVISED_YEAR}_released-2025-06-30.csv"
    other_year = comtrade / f"comtrade_final_A_CHN_{REVISED_YEAR - 1}_released-2025-06-30.csv"
    write(small, "AGO", 3)
    write(large, "DEU", 25)
    write(other_year, "CHN", 90)
    original = large.read_bytes()

    revised = revise_reporter_year(tmp_path / "landing", tmp_path / "out")

    assert revised.name == f"comtrade_final_A_DEU_{REVISED_YEAR}_released-2025-12-30.csv"
    assert large.read_bytes() == original  # the delivered file is left as it was
    with large.open(encoding="utf-8") as a, revised.open(encoding="utf-8") as b:
        before, after = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert len(after) == len(before) == 25
    changed = [i for i, (x, y) in enumerate(zip(before, after, strict=True)) if x != y]
    assert changed == [0, 10, 20]
    assert after[10]["primaryValue"] == f"{110 * 1.1:.2f}" and after[10]["cifvalue"] == ""
    assert after[10]["fobvalue"] == f"{60 * 1.1:.2f}"


def test_the_try_of_the_median_ratio_stands_for_the_case() -> None:
    def attempt(case: float, alone: float) -> dict[str, dict[str, float]]:
        return {"revision": {"seconds": case}, "revision_alone": {"seconds": alone}}

    low, middle, high = attempt(30, 30), attempt(45, 30), attempt(90, 30)
    assert median_try([high, low, middle], "revision", "revision_alone") is middle
    # of an even number, the lower middle one
    assert median_try([high, low], "revision", "revision_alone") is low
