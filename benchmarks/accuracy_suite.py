"""Accuracy on worlds the pipeline was not told about: seeds x frequencies x a size.

    uv run python benchmarks/accuracy_suite.py                    # 3 seeds x A, M, small
    uv run python benchmarks/accuracy_suite.py --size medium      # larger worlds (~1 h)
    uv run python benchmarks/accuracy_suite.py --seeds 7 --freqs M --no-docs   # one quick look
    uv run python benchmarks/accuracy_suite.py --docs-only        # rewrite docs/benchmarks.md

For every seed and frequency (annual and monthly worlds are separate worlds: a monthly-only
warehouse must stand on its own months):

1. ``mirror generate`` writes a world of the chosen size (``SIZES``; every kind of distortion
   planted, rates scaled up by ``--rate-scale`` so that a small world carries enough keys of
   each kind), cached under ``--work`` by size, freq, seed, rate scale and generator source;
2. ``mirror run`` builds it in ONE throw-away copy of the project (benchmarks/project_copy.py:
   blocking suites made warnings so every step runs; nothing of the world's ground truth goes
   in, the pipeline is given the landing folder and nothing else) on a fresh home;
3. benchmarks/accuracy.py scores the working warehouse against ``ground_truth/``: per planted
   kind the share of material keys whose status names the cause, breach precision, one-sided
   reach, transit by role, median CIF->FOB error on clean keys (and with the fixed 1.06);
4. the results go to ``benchmarks/results/accuracy.json`` and the section "Accuracy on worlds
   the pipeline was not told about" of docs/benchmarks.md is regenerated (benchmarks/doc.py,
   the one writer of that file), with the issues' targets next to the numbers.

The small size is chosen so that each ``mirror run`` takes one to two minutes on a 2-core
machine (the whole default suite ~15 min); the dbt test summary of each run is recorded
(``dbt tests: N passed, M failed``): a run whose own tests fail is shown as such.
Exit code 0 when every run completed (whether or not the targets are met), 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from accuracy import evaluate, one_sided_floors, target_checks  # noqa: E402
from common import ACCURACY_RESULT, REPO, machine, measure, mirror_run, now  # noqa: E402
from doc import write_doc  # noqa: E402
from project_copy import make_project_copy  # noqa: E402

# (reporters, products, years, rate scale) per size and frequency
SIZES: dict[str, dict[str, tuple[int, int, str, float]]] = {
    "small": {"A": (15, 30, "2020-2024", 4.0), "M": (15, 24, "2021-2022", 4.0)},
    "medium": {"A": (30, 100, "2020-2024", 2.0), "M": (30, 60, "2020-2023", 1.5)},
    "large": {"A": (60, 300, "2020-2024", 1.0), "M": (60, 200, "2020-2024", 1.0)},
}
# every world has two corridors (one with consignment rows, one found from values alone) and
# two re-export arrangements, whatever its size
CORRIDORS, REEXPORTS = 2, 2
DEFAULT_SEEDS = "1,2,3"
DBT_TESTS = re.compile(r"dbt tests\s+(\d+) passed, (\d+) failed")


def world_args(size: str, freq: str, seed: int, rate_scale: float | None) -> list[str]:
    reporters, products, years, scale = SIZES[size][freq]
    return [
        "--reporters", str(reporters), "--products", str(products), "--years", years,
        "--freq", freq, "--seed", str(seed),
        "--rate-scale", str(scale if rate_scale is None else rate_scale),
        "--corridors", str(CORRIDORS), "--reexports", str(REEXPORTS),
    ]  # fmt: skip


def generator_fingerprint() -> str:
    """sha256 of the generator's source: a cached world is reused only if nothing changed."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "mirror_tools" / "generate").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_world(work: Path, args: list[str], name: str, log_dir: Path) -> dict[str, Any]:
    """Generate the world unless the same generator and arguments already made it."""
    world = work / "worlds" / name
    stamp = world / "generate-args.json"
    info_path = world / "ground_truth" / "world.json"
    wanted = {"args": args, "generator": generator_fingerprint()}
    if not (info_path.exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted):
        cmd = [sys.executable, "-m", "mirror_tools.generate.cli", "generate", "--quiet",
               "--out", str(world), *args]  # fmt: skip
        res = measure(cmd, cwd=REPO, log=log_dir / f"generate-{name}.log")
        if res["exit_code"]:
            raise RuntimeError(f"generation failed, see {res['log']}")
        stamp.write_text(json.dumps(wanted))
    info = json.loads(info_path.read_text())
    info["dir"] = str(world)
    return info


PIPELINE_PATHS = ("dbt", "expectations", "dagster_project")  # the generator is in mirror_tools/


def _git(*a: str) -> str:
    return subprocess.run(
        ["git", *a], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()


def git_commit() -> str:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = _git("status", "--porcelain", "--", *PIPELINE_PATHS)
    return commit + ("+uncommitted" if dirty else "")


def pipeline_revision() -> str:
    """The last commit that changed what is measured (dbt, checks, pipeline code; not the
    generator): results of two commits with the same pipeline revision are comparable."""
    return _git("log", "-1", "--format=%h %cs %s", "--", *PIPELINE_PATHS) or "unknown"


def run_one(
    project: Path, work: Path, size: str, freq: str, seed: int, args: argparse.Namespace
) -> dict[str, Any]:
    name = f"{size}-{freq}-seed{seed}"
    run_dir = work / "runs" / name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    logs = run_dir / "logs"
    logs.mkdir(parents=True)
    world = ensure_world(work, world_args(size, freq, seed, args.rate_scale), name, logs)
    print(f"[{name}] {world['declarations']:,} declarations; mirror run ...", flush=True)
    home = run_dir / "home"
    pipeline = mirror_run(
        project, home, Path(world["dir"]) / "landing", logs / "pipeline.log", args.memory_limit
    )
    text = Path(pipeline["log"]).read_text(encoding="utf-8", errors="replace")
    found = DBT_TESTS.search(text)
    pipeline["dbt_tests"] = f"{found[1]} passed, {found[2]} failed" if found else None
    warehouse = home / "mirror.duckdb"
    result: dict[str, Any] = {"seed": seed, "freq": freq, "world": world, "pipeline": pipeline}
    if not warehouse.exists():
        result["accuracy"] = {"by_freq": {}, "error": f"no warehouse, see {pipeline['log']}"}
        print(f"[{name}] FAILED: no warehouse, see {pipeline['log']}", flush=True)
        return result
    result["accuracy"] = evaluate(
        warehouse,
        Path(world["dir"]) / "ground_truth",
        statuses_yml=project / "expectations" / "statuses.yml",
        floors=one_sided_floors(project / "dbt" / "dbt_project.yml"),
    )
    for f, metric, value, target, met in target_checks(result["accuracy"]):
        shown = "-" if value is None else f"{value:.3f}"
        print(f"[{name}] {f} {metric}: {shown} (target {target}) {'met' if met else 'NOT met'}")
    print(f"[{name}] mirror run {pipeline['seconds']:.0f} s, dbt tests {pipeline['dbt_tests']}")
    if not args.keep_homes:
        shutil.rmtree(home)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default=DEFAULT_SEEDS, help="comma-separated (default 1,2,3)")
    parser.add_argument("--freqs", default="A,M", help="A, M or A,M (default)")
    sizes_text = "; ".join(
        f"{s}: " + ", ".join(f"{f} {r} x {p} products {y}" for f, (r, p, y, _) in v.items())
        for s, v in SIZES.items()
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="small",
                        help=f"world size per frequency ({sizes_text})")  # fmt: skip
    parser.add_argument("--rate-scale", type=float,
                        help="override the size's distortion rate scale")  # fmt: skip
    parser.add_argument("--work", default=str(HERE / ".work" / "accuracy"),
                        help="worlds, the project copy and run folders")  # fmt: skip
    parser.add_argument("--memory-limit", default="1GB",
                        help="MIRROR_DUCKDB_MEMORY_LIMIT of the runs (default 1GB)")  # fmt: skip
    parser.add_argument("--output", default=str(ACCURACY_RESULT),
                        help="result JSON (default benchmarks/results/accuracy.json; the doc is "
                        "rewritten only from that file)")  # fmt: skip
    parser.add_argument("--keep-homes", action="store_true", help="keep each run's warehouse")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the doc")
    parser.add_argument("--docs-only", action="store_true", help="only rewrite the doc")
    args = parser.parse_args(argv)
    if args.docs_only:
        write_doc()
        return 0
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    freqs = [f.strip().upper() for f in args.freqs.split(",") if f.strip()]
    if not seeds or any(f not in ("A", "M") for f in freqs):
        parser.error("--seeds needs at least one seed, --freqs only A and M")
    work = Path(args.work).resolve()
    started = now()
    print(f"project copy in {work / 'project'} ...", flush=True)
    project = make_project_copy(work / "project")
    runs = []
    failed = False
    for seed in seeds:
        for freq in freqs:
            run = run_one(project, work, args.size, freq, seed, args)
            failed |= "error" in run["accuracy"]
            runs.append(run)
    result = {
        "generated": started,
        "generator": generator_fingerprint(),
        "finished": now(),
        "commit": git_commit(),
        "pipeline_revision": pipeline_revision(),
        "arguments": " ".join(argv if argv is not None else sys.argv[1:]),
        "size": args.size,
        "seeds": seeds,
        "freqs": freqs,
        "runs": runs,
        "machine": machine(),
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out}")
    if not args.no_docs and out.resolve() == ACCURACY_RESULT.resolve():
        write_doc()
        print("rewrote docs/benchmarks.md")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
