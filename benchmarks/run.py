"""Benchmark the warehouse against the floor (bare DuckDB) and a pandas peer on synthetic worlds.

    uv run python benchmarks/run.py --sizes 1M            # what docs/benchmarks.md reports
    uv run python benchmarks/run.py --sizes 5M,25M        # big runs: on a quiet machine
    uv run python benchmarks/run.py --docs-only           # rewrite docs/benchmarks.md

For each size (declarations: 1M = 1,000,000 rows in the landing files, 5 years 2020-2024,
annual + monthly):

1. generate the world (``mirror generate``; cached under ``--work`` by size, seed and format)
   and a one-month increment (2025-01, same world);
2. copy the project to a throw-away folder whose corridor seeds are the world's
   (benchmarks/project_copy.py), then measure, each as a subprocess under ``/usr/bin/time``
   (wall time; peak RSS = the largest single process of the tree):
   (a) the pipeline: ``mirror run --home H --landing L`` (ingest -> dbt build with tests ->
       GX checks -> publish) on a fresh home,
   (b) the floor: benchmarks/floor.py (DuckDB read_csv + one SQL query),
   (c) the pandas peer: benchmarks/pandas_peer.py;
3. check that (b), (c) and the warehouse's ``marts.fct_mirror_trade`` hold the same rows and
   totals (key by key, within float tolerance);
4. accuracy against the ground truth (benchmarks/accuracy.py);
5. incremental: add the 2025-01 files to the loaded world and re-run, then run the month alone
   on a fresh home;
6. write ``benchmarks/results/<size>.json`` and regenerate ``docs/benchmarks.md`` from every
   stored result (sizes not run yet are shown with an estimate).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from accuracy import evaluate  # noqa: E402
from project_copy import make_project_copy, project_env  # noqa: E402

RESULTS = HERE / "results"
DOC = REPO / "docs" / "benchmarks.md"
CODES = REPO / "data" / "reference" / "geo" / "comtrade_country_codes.csv"
YEARS = "2020-2024"
INCREMENT_YEAR, INCREMENT_MONTH = 2025, 1
KEY = ("freq", "period", "exporter_iso3", "importer_iso3", "hs6")
ALL_SIZES = ("1M", "5M", "25M")


def parse_size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * mult)


# --------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------


def measure(cmd: list[str], *, cwd: Path | None = None, env: dict | None = None,
            log: Path) -> dict[str, Any]:  # fmt: skip
    """Run ``cmd`` under /usr/bin/time: wall seconds, peak RSS (MB), exit code."""
    with tempfile.NamedTemporaryFile(suffix=".time", delete=False) as tf:
        timing = Path(tf.name)
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", "-o", str(timing), *cmd],
            cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    wall = time.monotonic() - started
    fields = timing.read_text().split()[-2:]
    timing.unlink()
    return {
        "seconds": round(wall, 2),
        "peak_rss_mb": round(int(fields[1]) / 1024),
        "exit_code": proc.returncode,
        "log": str(log),
    }


def mirror_run(
    project: Path, home: Path, landing: Path, log: Path, memory_limit: str | None
) -> dict[str, Any]:
    env = project_env(project)
    env["MIRROR_HOME"], env["MIRROR_LANDING"] = str(home), str(landing)
    if memory_limit:
        env["MIRROR_DUCKDB_MEMORY_LIMIT"] = memory_limit
    cmd = [sys.executable, "-m", "dagster_project.cli", "run", "--home", str(home),
           "--landing", str(landing)]  # fmt: skip
    result = measure(cmd, cwd=project, env=env, log=log)
    result["steps"] = step_breakdown(home)
    return result


_STEPS_SCRIPT = """
import json, os, sys
from dagster import DagsterInstance
with DagsterInstance.get() as inst:
    run = inst.get_runs(limit=1)[0]
    stats = inst.get_run_step_stats(run.run_id)
    print(json.dumps({s.step_key: round(s.end_time - s.start_time, 1)
                      for s in stats if s.start_time and s.end_time}))
"""


def step_breakdown(home: Path) -> dict[str, float]:
    """Seconds per Dagster step of the latest run in ``home`` (ingest, dbt, GX, publish)."""
    env = dict(os.environ, DAGSTER_HOME=str(home / "dagster"))
    out = subprocess.run(
        [sys.executable, "-c", _STEPS_SCRIPT], env=env, capture_output=True, text=True
    )
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {}


# --------------------------------------------------------------------------------------
# worlds
# --------------------------------------------------------------------------------------


def ensure_world(work: Path, size: str, seed: int, gz: bool, log_dir: Path) -> dict[str, Any]:
    target = parse_size(size)
    world = work / "worlds" / f"{size}-seed{seed}{'-gz' if gz else ''}"
    info_path = world / "ground_truth" / "world.json"
    inc = world / "increment"
    inc_info = inc / "ground_truth" / "world.json"
    gen = [sys.executable, "-m", "dagster_project.synthetic.cli", "generate", "--quiet"]
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
    project = make_project_copy(run_dir / "project", wdir / "ground_truth" / "corridors")
    measured = mirror_run(
        project, home, wdir / "landing", run_dir / "logs" / f"pipeline-memory-{limit}.log", limit
    )
    print(f"[{size}]     {measured}", flush=True)
    result.setdefault("memory_variants", {})[limit] = measured
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    shutil.rmtree(home)
    return result


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
    inc_folder = landing / "comtrade" / f"increment-{INCREMENT_YEAR}{INCREMENT_MONTH:02d}"
    if inc_folder.exists():  # left over from an interrupted run
        shutil.rmtree(inc_folder)
    project = make_project_copy(run_dir / "project", truth / "corridors")
    result: dict[str, Any] = {"size": size, "world": world, "started": _now()}
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
    print(f"[{size}] recall {result['accuracy']['recall']:.3f} "
          f"precision {result['accuracy']['precision']}", flush=True)  # fmt: skip

    if not args.skip_incremental:
        print(f"[{size}] incremental: + {INCREMENT_YEAR}-{INCREMENT_MONTH:02d} ...", flush=True)
        inc_landing = wdir / "increment" / "landing"
        shutil.copytree(inc_landing / "comtrade", inc_folder)
        try:
            result["incremental"] = mirror_run(
                project, home, landing, logs / "incremental.log", args.memory_limit
            )
        finally:
            shutil.rmtree(inc_folder)
        result["month_alone"] = mirror_run(
            project,
            run_dir / "home-month-alone",
            inc_landing,
            logs / "month_alone.log",
            args.memory_limit,
        )
        print(f"[{size}]     {result['incremental']} vs alone {result['month_alone']}", flush=True)
    result["finished"] = _now()
    result["machine"] = machine()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{size}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    versions = {}
    for pkg in ("duckdb", "dbt-core", "dbt-duckdb", "dagster", "dagster-dbt", "pandas", "numpy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "-"
    return {
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024**2, 1),
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "load_average_at_end": os.getloadavg(),
    }


# --------------------------------------------------------------------------------------
# the document
# --------------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f} %"


def estimate(results: dict[str, dict], size: str) -> dict[str, float] | None:
    """Linear extrapolation from the largest measured size: fixed cost (the month-alone run,
    for the pipeline) + per-declaration cost."""
    measured = [r for r in results.values() if r.get("pipeline")]
    if not measured:
        return None
    base = max(measured, key=lambda r: r["world"]["declarations"])
    n0, n = base["world"]["declarations"], parse_size(size)
    fixed = base.get("month_alone", {}).get("seconds", 0.0)
    out = {}
    for step in ("pipeline", "floor", "pandas"):
        t0 = base[step]["seconds"]
        f = fixed if step == "pipeline" else 0.0
        out[step] = f + (t0 - f) * n / n0
    gen = base["world"].get("generation_measured", {}).get("seconds") or base["world"]["seconds"]
    out["generate"] = gen * n / n0
    out["incremental"] = (
        fixed + (base["incremental"]["seconds"] - fixed) * n / n0 if "incremental" in base else 0
    )
    return out


def write_doc(results: dict[str, dict]) -> None:
    mach = next((r["machine"] for r in results.values()), machine())
    v = mach["versions"]
    lines = [
        "# Benchmarks: the warehouse against the floor and a pandas peer",
        "",
        "Generated by `uv run python benchmarks/run.py --sizes 1M` (this file is rewritten by",
        "every run; results are kept in `benchmarks/results/<size>.json`). Not part of the test",
        "suite.",
        "",
        "## Machine",
        "",
        f"* {mach['cores']} cores, {mach['ram_gb']} GB RAM, {mach['cpu']}; {mach['os']}",
        f"* Python {mach['python']}; DuckDB {v.get('duckdb')}, dbt-core {v.get('dbt-core')}, "
        f"dbt-duckdb {v.get('dbt-duckdb')}, Dagster {v.get('dagster')}, dagster-dbt "
        f"{v.get('dagster-dbt')}, pandas {v.get('pandas')}, numpy {v.get('numpy')}",
        "* Shared machine: other developers ran tests during the runs (load average at the end",
        f"  of the last run: {', '.join(f'{x:.1f}' for x in mach['load_average_at_end'])}).",
        "",
        "## What is measured",
        "",
        "A synthetic world (`mirror generate`, seed fixed) of N reporters x P HS6 products x 5",
        "years (2020-2024), annual and monthly; *declarations* = rows in the landing files. Each",
        "step is a subprocess under `/usr/bin/time`: wall time and peak RSS (of the largest",
        "single process of the tree: for the pipeline that is the dbt process or Dagster's).",
        "",
        "* **pipeline** — `mirror run --home H --landing L` on a fresh home: ingest (registry,",
        "  sha256, quarantine rules; same-layout files read in batches of",
        "  `MIRROR_INGEST_BATCH_MB`, one scan and one transaction each) -> `dbt build` (every",
        "  model and every dbt test) -> GX checks -> publish (a throw-away copy of the project",
        "  with the world's corridor seeds; blocking suites made warnings so publish runs).",
        "  DuckDB's memory is capped with `MIRROR_DUCKDB_MEMORY_LIMIT` (the setting of each",
        "  run is in the results table); above it, DuckDB spills to disk;",
        "* **floor** — `benchmarks/floor.py`: DuckDB `read_csv` over the same files and ONE SQL",
        "  query: totals only, latest release wins, X vs M/1.06 by freq x period x exporter x",
        "  importer x HS6;",
        "* **pandas** — `benchmarks/pandas_peer.py`: the same table, 12 columns read with",
        "  explicit dtypes and categoricals, filtered while reading, vectorised",
        "  drop_duplicates / groupby / outer merge.",
        "",
        "The three must agree: same keys and, key by key, the same export and import values",
        "(|difference| <= 0.01 USD + 1e-9 relative) — checked on every run (*same table*).",
        "",
        "## Results",
        "",
        "| size | declarations | N x P | pipeline | floor | pandas | pipeline / floor | "
        "pipeline / pandas | same table |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sorted(set(ALL_SIZES) | set(results), key=parse_size):
        r = results.get(size)
        if r is None:
            est = estimate(results, size)
            eta = (
                f"not run yet (estimate: generate ~{est['generate'] / 60:.0f} min, pipeline "
                f"~{est['pipeline'] / 60:.0f} min, floor ~{est['floor'] / 60:.1f} min, pandas "
                f"~{est['pandas'] / 60:.1f} min)"
                if est
                else "not run yet"
            )
            lines.append(f"| {size} | ~{parse_size(size):,} | | {eta} | | | | | |")
            continue
        p, f, pd_ = r["pipeline"], r["floor"], r["pandas"]
        w = r["world"]
        limit = r.get("settings", {}).get("MIRROR_DUCKDB_MEMORY_LIMIT", "default (80%)")
        lines.append(
            f"| {size} | {w['declarations']:,} | {w['reporters']} x {w['products']} | "
            f"{p['seconds']:.0f} s, {p['peak_rss_mb']} MB (memory limit {limit}) | "
            f"{f['seconds']:.1f} s, "
            f"{f['peak_rss_mb']} MB | {pd_['seconds']:.1f} s, {pd_['peak_rss_mb']} MB | "
            f"{_ratio(p['seconds'], f['seconds'])} | {_ratio(p['seconds'], pd_['seconds'])} | "
            f"{'yes' if r['comparison']['same_table'] else 'NO'} |"
        )
    lines += ["", "### Where the pipeline's time goes (Dagster steps, seconds)", ""]
    lines += [
        "| size | run | ingest comtrade | other ingest | dbt build (models + tests) | "
        "GX checks | publish | start-up and rest |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, r in sorted(results.items(), key=lambda kv: parse_size(kv[0])):
        for name in ("pipeline", "incremental", "month_alone"):
            st = r.get(name, {}).get("steps")
            if not st:
                continue
            ing = st.get("raw__comtrade_final", 0.0)
            dbt = st.get("mirror_dbt_assets", 0.0)
            gx = sum(v for k, v in st.items() if k.startswith("gx"))
            pub = sum(v for k, v in st.items() if k.startswith("published"))
            other = sum(v for k, v in st.items() if k.startswith("raw")) - ing
            rest = r[name]["seconds"] - ing - dbt - gx - pub - other
            lines.append(
                f"| {size} | {name.replace('_', ' ')} | {ing:.0f} | {other:.0f} | {dbt:.0f} | "
                f"{gx:.0f} | {pub:.0f} | {rest:.0f} |"
            )
    variants = [(size, r) for size, r in results.items() if r.get("memory_variants")]
    if variants:
        lines += [
            "",
            "### Memory cap against speed (the pipeline alone, fresh home)",
            "",
            "| size | MIRROR_DUCKDB_MEMORY_LIMIT | pipeline | ingest | dbt build | publish |",
            "|---|---|---|---|---|---|",
        ]
        for size, r in sorted(variants, key=lambda kv: parse_size(kv[0])):
            runs = {r.get("settings", {}).get("MIRROR_DUCKDB_MEMORY_LIMIT", "?"): r["pipeline"]}
            runs.update(r["memory_variants"])
            for limit, m in runs.items():
                st = m.get("steps", {})
                pub = sum(v for k, v in st.items() if k.startswith("published"))
                lines.append(
                    f"| {size} | {limit} | {m['seconds']:.0f} s, {m['peak_rss_mb']} MB | "
                    f"{st.get('raw__comtrade_final', 0):.0f} s | "
                    f"{st.get('mirror_dbt_assets', 0):.0f} s | {pub:.0f} s |"
                )
    lines += ["", "### Incremental: one more month", ""]
    lines += ["| size | + 2025-01 on the loaded world | 2025-01 alone (fresh home) | ratio |",
              "|---|---|---|---|"]  # fmt: skip
    for size, r in sorted(results.items(), key=lambda kv: parse_size(kv[0])):
        if "incremental" in r:
            i, a = r["incremental"], r["month_alone"]
            lines.append(
                f"| {size} | {i['seconds']:.0f} s, {i['peak_rss_mb']} MB | {a['seconds']:.0f} s,"
                f" {a['peak_rss_mb']} MB ({r['world']['increment']['declarations']:,} "
                f"declarations) | {_ratio(i['seconds'], a['seconds'])} |"
            )
    lines += ["", "### Accuracy against the ground truth", ""]
    lines += [
        "Definitions (benchmarks/accuracy.py): a *planted key* is a mirror key (freq x period x",
        "exporter x importer x HS6) listed in `ground_truth/distortions.parquet`; it is",
        "*material* when the distortion makes the declarations differ beyond the HS chapter's",
        "tolerance after the true margin, or removes a side (unit errors, revisions and 899",
        "keys always count). **Recall** = share of material planted keys whose warehouse row",
        "says what the kind expects (transit -> `explained_transit`; timing lag ->",
        "`explained_timing`; misclassification, confidential, unreliable reporter -> flagged:",
        "`breach`/`import_only`/`export_only`; unit error -> `quantity_flag =",
        "likely_unit_error_x1000`; 899 key -> `unallocated`; revision -> `is_revised` and",
        "`ok`/`explained_cif_fob`); a key without a row is a miss. **Precision** = share of",
        "`breach` rows whose key is planted. **Balanced error** = sum |balanced - true| / sum",
        "true over keys with no planted distortion (`fct_reconciled_trade.balanced_value_usd`",
        "vs the true FOB value).",
        "",
    ]
    for size, r in sorted(results.items(), key=lambda kv: parse_size(kv[0])):
        a = r["accuracy"]
        b = a["balanced"]
        lines += [
            f"**{size}**: recall {_pct(a['recall'])} of {a['material_planted_keys']:,} material "
            f"planted keys; precision {_pct(a['precision'])} of {a['breach_rows']:,} breach rows "
            f"(flagged rows: {_pct(a['flagged_precision'])} of {a['flagged_rows']:,}); "
            f"balanced error {_pct(b['clean']['value_weighted_abs_error'], 2)} "
            f"(median {_pct(b['clean']['median_abs_pct_error'], 2)}, "
            f"{_pct(b['clean']['share_within_2pct'])} of {b['clean']['rows']:,} rows within 2 %);"
            f" CIF/FOB margin error {a['margin_abs_error_pp']:.2f} pp; duplicate file detected: "
            f"{'yes' if a['duplicate_file_detected'] else 'NO'}; mean reliability score "
            f"{a['reliability_score_unreliable']:.2f} (unreliable reporters) vs "
            f"{a['reliability_score_others']:.2f} (others).",
            "",
            "| kind | material keys | recall | missed as |",
            "|---|---|---|---|",
        ]
        for kind, k in a["recall_by_kind"].items():
            missed = ", ".join(f"{s} {n:,}" for s, n in k.get("missed_as", {}).items())
            lines.append(f"| {kind} | {k['material']:,} | {_pct(k['recall'])} | {missed} |")
        u = b["unreliable_only"]
        lines += [
            "",
            f"On keys touched only by an unreliable reporter ({u['rows']:,}), the balanced value "
            f"is off by {_pct(u['value_weighted_abs_error'], 2)} against "
            f"{_pct(u['simple_mean_value_weighted_abs_error'], 2)} for the simple mean of both "
            "sides.",
            "",
        ]
    lines += [
        "## Against the targets",
        "",
        "Targets: pipeline <= 1.5x floor at 25M; faster than pandas at 5M+; incremental month",
        "<= 1.5x the month alone; recall and precision >= 0.95; balanced within 2 %.",
        "",
        "| size | target | measured | met |",
        "|---|---|---|---|",
    ]
    for size, r in sorted(results.items(), key=lambda kv: parse_size(kv[0])):
        a, p = r["accuracy"], r["pipeline"]["seconds"]
        checks = [
            ("pipeline <= 1.5x floor", p / r["floor"]["seconds"], 1.5, "x"),
            ("pipeline faster than pandas", p / r["pandas"]["seconds"], 1.0, "x"),
            ("balanced error <= 2 %", 100 * a["balanced"]["clean"]["value_weighted_abs_error"],
             2.0, " %"),
        ]  # fmt: skip
        if "incremental" in r:
            ratio = r["incremental"]["seconds"] / r["month_alone"]["seconds"]
            checks.append(("incremental month <= 1.5x month alone", ratio, 1.5, "x"))
        for name, value, limit, unit in checks:
            lines.append(f"| {size} | {name} | {value:.2f}{unit} | "
                         f"{'yes' if value <= limit else 'no'} |")  # fmt: skip
        for name, value in (("recall >= 0.95", a["recall"]), ("precision >= 0.95", a["precision"])):
            ok = value is not None and value >= 0.95
            lines.append(f"| {size} | {name} | {value:.3f} | {'yes' if ok else 'no'} |")
    lines += [
        "",
        "### Why the pipeline is slower than the targets, and what would close the gap",
        "",
        "* **It stores and checks what the floor throws away.** Ingest keeps all 47 delivered",
        "  columns as text with lineage (file, hash, row number), registry and quarantine, and",
        "  evaluates ~40 row rules; the floor parses the same CSV but keeps 12 columns in memory.",
        "  Writing 47 text columns to the DuckDB file costs about as much as parsing the CSV",
        "  (measured: 3.7 s per 800k rows for the insert alone). Batched ingest (one scan and one",
        "  transaction per `MIRROR_INGEST_BATCH_MB`) took the 5M ingest from 181 s to 56 s; the",
        "  rest is that write. Next: keep raw as typed columns plus the original line as one",
        "  text column (quarantine still has the delivered text), or Parquet raw files.",
        "* **dbt builds ~30 models and runs ~190 tests on every run**, the whole graph, because",
        "  the CIF/FOB gravity margins, the reporter noise test and the reliability weights are",
        "  estimated on all years at once: one new month moves them for every key. That is why",
        "  the incremental month costs almost a full dbt build at 5M (2.2-2.5x the month alone,",
        "  was 3.0x). Next: freeze the estimates per release vintage, then make the staging and",
        "  declaration models incremental by (freq, period, reporter) and scope the tests to the",
        "  changed partitions.",
        "* **At 25M, sorting every delivery dominates dbt:** the revision history",
        "  (`int_comtrade__revisions`, three window passes over all 25M deliveries: 108-144 s)",
        "  and the de-duplication (`int_comtrade__totals_deduplicated`, ~80 s) sort more than",
        "  the 1GB cap holds and spill to disk. (A hash-aggregate `arg_max` rewrite of the",
        "  de-duplication was tried and was 2x slower at 5M.) Next: window only the keys",
        "  delivered more than once (a few %), and type the raw columns once instead of in",
        "  each model that reads the staging view.",
        "* **Fixed costs dominate small runs:** Dagster, dbt and GX start-up, the dbt docs",
        "  catalog, the report and the publication copy are ~40-50 s whatever the size.",
        "* **Memory:** DuckDB is capped (`MIRROR_DUCKDB_MEMORY_LIMIT`, 1GB here; uncapped the 5M",
        "  dbt process peaked at 4.0 GB); what remains above the cap is the Python processes.",
        "  The first 25M run peaked at 7.3 GB in the report step, which pulled every gap into",
        "  Python (109 s, a 74 MB page); it now bins the distribution in DuckDB (2 s, 6 MB",
        "  page) and the 25M peak is 1.5 GB, below the pandas peer's 3.7 GB. The 1M row above",
        "  was measured before that fix (its peak includes the old report step).",
        "* **This is a shared VM:** the same 25M pipeline took 1,123 s and 1,194 s in two runs,",
        "  the floor 117 s and 66 s (page cache); read ratios to +-10 %.",
        "",
        "Measured before the changes of this round (same machine, 5M): pipeline 296 s, peak",
        "3,953 MB (ingest 181 s, one transaction per file; no memory cap), recall 0.907 (timing",
        "explained gaps of noisy reporters; now refused, see docs/methodology.md §4).",
        "",
        "## Reproduce",
        "",
        "```bash",
        "uv run python benchmarks/run.py --sizes 1M            # ~1M declarations",
        "uv run python benchmarks/run.py --sizes 5M            # on a quiet machine",
        "uv run python benchmarks/run.py --sizes 25M --skip-incremental  # ~8 GB CSV, ~40 GB disk",
        "uv run python benchmarks/run.py --sizes 25M --memory-variant 80%  # pipeline uncapped",
        "uv run python benchmarks/run.py --docs-only           # rewrite this file",
        "```",
        "",
        "Worlds are cached in `--work` (default `benchmarks/.work/`, git-ignored) by size, seed",
        "and format; delete the folder to regenerate.",
        "",
    ]
    DOC.write_text("\n".join(lines), encoding="utf-8")


def load_results() -> dict[str, dict]:
    out = {}
    for p in sorted(RESULTS.glob("*.json")):
        out[p.stem] = json.loads(p.read_text())
    return out


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
        "--memory-limit",
        default="1GB",
        help="MIRROR_DUCKDB_MEMORY_LIMIT for the pipeline runs (default 1GB; '' = the "
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
    write_doc(load_results())
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
