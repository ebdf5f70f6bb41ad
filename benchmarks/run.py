"""Benchmark the warehouse against the floor (bare DuckDB) and a pandas peer on synthetic worlds.

    uv run python benchmarks/run.py --sizes 1M            # what docs/benchmarks.md reports
    uv run python benchmarks/run.py --sizes 5M,25M        # big runs: on a quiet machine
    uv run python benchmarks/run.py --docs-only           # rewrite docs/benchmarks.md

For each size (declarations: 1M = 1,000,000 rows in the landing files, 5 years 2020-2024,
annual + monthly):

1. generate the world (``mirror generate``; cached under ``--work`` by size, seed and format)
   and a one-month increment (2025-01, same world);
2. copy the project to a throw-away folder (benchmarks/project_copy.py; the pipeline is given
   the landing files and nothing else), then measure, each as a subprocess under ``/usr/bin/time``
   (wall time; peak RSS = the largest single process of the tree):
   (a) the pipeline: ``mirror run --home H --landing L`` (ingest -> dbt build with tests ->
       GX checks -> publish) on a fresh home,
   (b) the floor: benchmarks/floor.py (DuckDB read_csv + one SQL query),
   (c) the pandas peer: benchmarks/pandas_peer.py;
3. check that (b), (c) and the warehouse's ``marts.fct_mirror_trade`` hold the same rows and
   totals (key by key, within float tolerance);
4. accuracy against the ground truth (benchmarks/accuracy.py);
5. incremental: add the 2025-01 files to the loaded world and re-run, then run the month alone
   on a fresh home; then a revised reporter-year: the largest annual Comtrade file of 2023
   again, every tenth row's values x1.1, released later (what a statistics office's revision
   looks like), added to that home, then that file alone on a fresh home;
6. write ``benchmarks/results/<size>.json`` and regenerate ``docs/benchmarks.md`` from every
   stored result (benchmarks/doc.py; sizes not run yet are shown with an estimate).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from accuracy import evaluate  # noqa: E402
from common import (  # noqa: E402
    DOC,
    REPO,
    RESULTS,
    code_version,
    machine,
    measure,
    mirror_run,
    now,
    parse_size,
)
from doc import write_doc  # noqa: E402
from project_copy import make_project_copy  # noqa: E402

CODES = REPO / "data" / "reference" / "geo" / "comtrade_country_codes.csv"
YEARS = "2020-2024"
INCREMENT_YEAR, INCREMENT_MONTH = 2025, 1
REVISED_YEAR = 2023  # a year of the world with a year on each side (the annual timing window)
REVISED_VALUES = ("primaryValue", "cifvalue", "fobvalue")
_RELEASED = re.compile(r"released-(\d{4}-\d{2}-\d{2})")
KEY = ("freq", "period", "exporter_iso3", "importer_iso3", "hs6")


# --------------------------------------------------------------------------------------
# worlds
# --------------------------------------------------------------------------------------


def ensure_world(work: Path, size: str, seed: int, gz: bool, log_dir: Path) -> dict[str, Any]:
    target = parse_size(size)
    world = work / "worlds" / f"{size}-seed{seed}{'-gz' if gz else ''}"
    info_path = world / "ground_truth" / "world.json"
    inc = world / "increment"
    inc_info = inc / "ground_truth" / "world.json"
    gen = [sys.executable, "-m", "mirror_tools.generate.cli", "generate", "--quiet"]
    generation = None
    if not info_path.exists():
        cmd = [*gen, "--out", str(world), "--target-declarations", str(target), "--years", YEARS,
               "--freq", "AM", "--seed", str(seed), *(["--gzip"] if gz else [])]  # fmt: skip
        generation = measure(cmd, cwd=REPO, log=log_dir / f"generate-{size}.log")
        if generation["exit_code"]:
            raise SystemExit(f"generation failed, see {generation['log']}")
    info = json.loads(info_path.read_text())
    if not inc_info.exists():
        cmd = [*gen, "--out", str(inc), "--reporters", str(info["reporters"]),
               "--products", str(info["products"]), "--years", str(INCREMENT_YEAR),
               "--months", str(INCREMENT_MONTH), "--freq", "M", "--seed", str(seed),
               "--no-duplicate", *(["--gzip"] if gz else [])]  # fmt: skip
        res = measure(cmd, cwd=REPO, log=log_dir / f"generate-{size}-increment.log")
        if res["exit_code"]:
            raise SystemExit(f"increment generation failed, see {res['log']}")
    info["increment"] = json.loads(inc_info.read_text())
    info["dir"] = str(world)
    if generation:
        info["generation_measured"] = generation
    return info


# --------------------------------------------------------------------------------------
# same table?
# --------------------------------------------------------------------------------------


def revise_reporter_year(landing: Path, dest: Path) -> Path:
    """A revision of one reporter-year, written into ``dest``: the largest annual Comtrade file
    of :data:`REVISED_YEAR` (the reporter with most rows: the costliest to revise) with every
    tenth row's values x1.1 and a release date half a year later, so that it supersedes the
    original. Returns the file."""
    candidates = sorted(
        (landing / "comtrade").glob(f"*_A_*_{REVISED_YEAR}_released-*.csv"),
        key=lambda path: (-path.stat().st_size, path.name),
    )
    if not candidates:
        raise FileNotFoundError(f"no annual Comtrade file of {REVISED_YEAR} in {landing}")
    source = candidates[0]
    found = _RELEASED.search(source.name)
    assert found, source.name
    later = dt.date.fromisoformat(found.group(1)) + dt.timedelta(days=183)
    dest.mkdir(parents=True, exist_ok=True)
    revised = dest / _RELEASED.sub(f"released-{later.isoformat()}", source.name)
    with (
        source.open(newline="", encoding="utf-8") as read,
        revised.open("w", newline="", encoding="utf-8") as write,
    ):
        reader = csv.DictReader(read)
        writer = csv.DictWriter(write, reader.fieldnames or [])
        writer.writeheader()
        for index, row in enumerate(reader):
            if index % 10 == 0:
                for column in REVISED_VALUES:
                    if row.get(column):
                        row[column] = f"{float(row[column]) * 1.1:.2f}"
            writer.writerow(row)
    return revised


def compare(floor: Path, peer: Path, warehouse: Path) -> dict[str, Any]:
    con = duckdb.connect()
    con.execute(f"ATTACH '{warehouse}' AS w (READ_ONLY)")
    sources = {
        "floor": f"read_parquet('{floor}')",
        "pandas": f"read_parquet('{peer}')",
        "warehouse": "w.marts.fct_mirror_trade",
    }
    totals = {}
    for name, rel in sources.items():
        r = con.execute(
            f"SELECT count(*), sum(export_value_usd), sum(import_value_usd), "
            f"count(export_value_usd), count(import_value_usd) FROM {rel}"
        ).fetchone()
        totals[name] = dict(zip(("rows", "export_usd", "import_usd", "export_rows",
                                 "import_rows"), r, strict=True))  # fmt: skip
    on = " AND ".join(f"a.{k} = b.{k}" for k in KEY)
    diffs = {}
    for other in ("pandas", "warehouse"):
        r = con.execute(
            f"""
            SELECT count(*) FILTER (a.hs6 IS NULL OR b.hs6 IS NULL),
                   count(*) FILTER (a.hs6 IS NOT NULL AND b.hs6 IS NOT NULL AND (
                       abs(coalesce(a.export_value_usd, 0) - coalesce(b.export_value_usd, 0))
                           > 0.01 + 1e-9 * abs(coalesce(a.export_value_usd, 0))
                       OR abs(coalesce(a.import_value_usd, 0) - coalesce(b.import_value_usd, 0))
                           > 0.01 + 1e-9 * abs(coalesce(a.import_value_usd, 0))
                       OR (a.export_value_usd IS NULL) <> (b.export_value_usd IS NULL)
                       OR (a.import_value_usd IS NULL) <> (b.import_value_usd IS NULL)))
            FROM {sources["floor"]} a FULL JOIN {sources[other]} b ON {on}
            """
        ).fetchone()
        diffs[f"floor_vs_{other}"] = {"unmatched_keys": r[0], "differing_values": r[1]}
    con.close()
    same = all(d["unmatched_keys"] == 0 and d["differing_values"] == 0 for d in diffs.values())
    return {"totals": totals, "key_diffs": diffs, "same_table": same}


# --------------------------------------------------------------------------------------
# one size
# --------------------------------------------------------------------------------------


def memory_variant(size: str, limit: str, args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline alone, on a fresh home, with another memory cap; added to the stored
    result of ``size`` (which must exist: the same world and project copy are reused)."""
    path = RESULTS / f"{size}.json"
    if not path.exists():
        raise SystemExit(f"run --sizes {size} first: {path} is missing")
    result = json.loads(path.read_text())
    run_dir = Path(args.work).resolve() / "runs" / size
    home = run_dir / f"home-memory-{limit.replace('%', 'pct')}"
    if home.exists():
        shutil.rmtree(home)
    wdir = Path(result["world"]["dir"])
    print(f"[{size}] pipeline with MIRROR_DUCKDB_MEMORY_LIMIT={limit} ...", flush=True)
    project = make_project_copy(run_dir / "project")
    measured = mirror_run(
        project, home, wdir / "landing", run_dir / "logs" / f"pipeline-memory-{limit}.log", limit
    )
    print(f"[{size}]     {measured}", flush=True)
    result.setdefault("memory_variants", {})[limit] = measured
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    shutil.rmtree(home)
    return result


def incremental_try(
    size: str,
    number: int,
    project: Path,
    home: Path,
    wdir: Path,
    run_dir: Path,
    memory_limit: str | None,
) -> dict[str, Any]:
    """One try of both incremental cases on ``home`` (a built world): the month added, then
    the revised reporter-year; each against that slice alone on a fresh home, run right after
    it (the machine's speed changes by the minute)."""
    landing = wdir / "landing"
    inc_folder, revision_folder = added_folders(landing)
    logs = run_dir / "logs"
    tag = f"try {number}"
    out: dict[str, Any] = {}
    print(f"[{size}] {tag}: + {INCREMENT_YEAR}-{INCREMENT_MONTH:02d} ...", flush=True)
    inc_landing = wdir / "increment" / "landing"
    shutil.copytree(inc_landing / "comtrade", inc_folder)
    try:
        out["incremental"] = mirror_run(
            project, home, landing, logs / f"incremental-{number}.log", memory_limit
        )
        out["month_alone"] = alone(
            project, run_dir, "month_alone", number, inc_landing, memory_limit
        )
        print(f"[{size}]     {tag}: {ratio_line(out, 'incremental', 'month_alone')}", flush=True)
        # the month stays: its files going would be a change of their own
        revised = revise_reporter_year(landing, revision_folder)
        out["revision_file"] = revised.name
        print(f"[{size}] {tag}: revised {revised.name} ...", flush=True)
        out["revision"] = mirror_run(
            project, home, landing, logs / f"revision-{number}.log", memory_limit
        )
    finally:
        shutil.rmtree(inc_folder)
        if revision_folder.exists():
            shutil.rmtree(revision_folder)
    revision_landing = run_dir / "revision-landing"
    if revision_landing.exists():
        shutil.rmtree(revision_landing)
    revise_reporter_year(landing, revision_landing / "comtrade")
    out["revision_alone"] = alone(
        project, run_dir, "revision_alone", number, revision_landing, memory_limit
    )
    print(f"[{size}]     {tag}: {ratio_line(out, 'revision', 'revision_alone')}", flush=True)
    return out


def alone(
    project: Path, run_dir: Path, case: str, number: int, landing: Path, memory_limit: str | None
) -> dict[str, Any]:
    """``landing`` (one slice) on a fresh home: what an increment is compared with."""
    home = run_dir / f"home-{case.replace('_', '-')}"
    if home.exists():
        shutil.rmtree(home)
    log = run_dir / "logs" / f"{case}-{number}.log"
    return mirror_run(project, home, landing, log, memory_limit)


def added_folders(landing: Path) -> tuple[Path, Path]:
    """Where a try puts the month's files and the revised file in the world's landing zone
    (removed after it)."""
    comtrade = landing / "comtrade"
    return (
        comtrade / f"increment-{INCREMENT_YEAR}{INCREMENT_MONTH:02d}",
        comtrade / f"revision-{REVISED_YEAR}",
    )


def ratio_line(run: dict[str, Any], case: str, alone: str) -> str:
    return (
        f"{case} {run[case]['seconds']:.1f} s against {run[alone]['seconds']:.1f} s alone: "
        f"{run[case]['seconds'] / run[alone]['seconds']:.2f}x"
    )


def median_try(tries: list[dict[str, Any]], case: str, alone: str) -> dict[str, Any]:
    """The try whose ``case`` / ``alone`` ratio is the median (the lower middle one of an even
    number of tries)."""
    ranked = sorted(tries, key=lambda t: t[case]["seconds"] / t[alone]["seconds"])
    return ranked[(len(ranked) - 1) // 2]


def bench_size(size: str, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work).resolve()
    run_dir = work / "runs" / size
    if run_dir.exists():
        shutil.rmtree(run_dir)
    logs = run_dir / "logs"
    logs.mkdir(parents=True)
    print(f"[{size}] world ...", flush=True)
    world = ensure_world(work, size, args.seed, args.gzip, logs)
    wdir = Path(world["dir"])
    landing, truth = wdir / "landing", wdir / "ground_truth"
    inc_folder, revision_folder = added_folders(landing)
    for folder in (inc_folder, revision_folder):
        if folder.exists():  # left over from an interrupted run
            shutil.rmtree(folder)
    project = make_project_copy(run_dir / "project")
    result: dict[str, Any] = {
        "size": size,
        "world": world,
        "started": now(),
        "code": code_version(),
    }
    result["settings"] = {
        "MIRROR_DUCKDB_MEMORY_LIMIT": args.memory_limit or "default (80%)",
        "MIRROR_INGEST_BATCH_MB": os.environ.get("MIRROR_INGEST_BATCH_MB", "default (128)"),
    }

    print(f"[{size}] (a) pipeline ...", flush=True)
    home = run_dir / "home"
    result["pipeline"] = mirror_run(
        project, home, landing, logs / "pipeline.log", args.memory_limit
    )
    print(f"[{size}]     {result['pipeline']}", flush=True)
    print(f"[{size}] (b) floor ...", flush=True)
    floor_out, pandas_out = run_dir / "floor.parquet", run_dir / "pandas.parquet"
    result["floor"] = measure(
        [sys.executable, str(HERE / "floor.py"), str(landing), str(CODES), str(floor_out)],
        env={
            **os.environ,
            **({"MIRROR_DUCKDB_MEMORY_LIMIT": args.memory_limit} if args.memory_limit else {}),
        },
        log=logs / "floor.log",
    )
    print(f"[{size}]     {result['floor']}", flush=True)
    print(f"[{size}] (c) pandas ...", flush=True)
    result["pandas"] = measure(
        [sys.executable, str(HERE / "pandas_peer.py"), str(landing), str(CODES),
         str(pandas_out)],
        log=logs / "pandas.log",
    )  # fmt: skip
    print(f"[{size}]     {result['pandas']}", flush=True)
    warehouse = home / "mirror.duckdb"
    result["comparison"] = compare(floor_out, pandas_out, warehouse)
    print(f"[{size}] same table: {result['comparison']['same_table']}", flush=True)
    result["accuracy"] = evaluate(warehouse, truth)
    for freq, acc in result["accuracy"]["by_freq"].items():
        print(f"[{size}] {freq}: share naming the cause {acc['all_kinds']['share']}, breach "
              f"precision {(acc['breach'] or {}).get('precision')}", flush=True)  # fmt: skip

    if not args.skip_incremental:
        # the built home, kept for the tries after the first (each adds to it), each restored
        # at the home's own path: a delivery arrives in a home that has not moved (a moved
        # home parses the dbt project again, for its new warehouse path: home_parse.py)
        built = run_dir / "home-built"
        if args.tries > 1:
            shutil.copytree(home, built, symlinks=True)
        tries = []
        for number in range(1, args.tries + 1):
            if number > 1:
                shutil.rmtree(home)
                shutil.copytree(built, home, symlinks=True)
            tries.append(
                incremental_try(size, number, project, home, wdir, run_dir, args.memory_limit)
            )
        if built.exists():
            shutil.rmtree(built)
        result["tries"] = tries
        result["revision_file"] = tries[0]["revision_file"]
        # the try of the median ratio stands for each case (the machine's noise moves the
        # ratio of one try by a third)
        for case, alone in (("incremental", "month_alone"), ("revision", "revision_alone")):
            chosen = median_try(tries, case, alone)
            result[case], result[alone] = chosen[case], chosen[alone]
    result["finished"] = now()
    result["machine"] = machine()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{size}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1M", help="comma-separated: 200K, 1M, 5M, 25M")
    parser.add_argument("--work", default=str(HERE / ".work"), help="worlds and run folders")
    parser.add_argument("--seed", type=int, default=20250701)
    parser.add_argument("--gzip", action="store_true", help="worlds as .csv.gz")
    parser.add_argument("--skip-incremental", action="store_true")
    parser.add_argument(
        "--tries",
        type=int,
        default=3,
        help="tries of the incremental cases, each on a copy of the built home and against its "
        "slice alone run right after; the try of the median ratio is reported (default 3)",
    )
    parser.add_argument(
        "--memory-limit",
        default="1GB",
        help="MIRROR_DUCKDB_MEMORY_LIMIT for the pipeline and floor runs (default 1GB; '' = the "
        "warehouse default, 80%% of RAM)",
    )
    parser.add_argument("--docs-only", action="store_true", help="only rewrite the document")
    parser.add_argument(
        "--memory-variant",
        metavar="LIMIT",
        help="instead of the full benchmark: run the pipeline alone of each size (already "
        "benchmarked) with MIRROR_DUCKDB_MEMORY_LIMIT=LIMIT (e.g. 80%%) and add it to its result",
    )
    args = parser.parse_args(argv)
    if not args.docs_only:
        for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
            if args.memory_variant:
                memory_variant(size, args.memory_variant, args)
            else:
                bench_size(size, args)
    write_doc()
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
