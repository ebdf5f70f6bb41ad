"""`mirror run` of the embedded sample, cold and warm, against issue 15's targets (warm <= 10 s,
cold <= 20 s), stored in ``benchmarks/results/sample.json`` and rendered in docs/benchmarks.md
by benchmarks/doc.py.

    uv run python benchmarks/sample_times.py             # on a quiet machine (~5 min)
    uv run python benchmarks/sample_times.py --repeat 5

In a throw-away copy of the project (benchmarks/project_copy.py), each run a subprocess under
``/usr/bin/time``:

* **cold**: a fresh home (the first run after install: the dbt manifest is the packaged one,
  every table is built, the dbt docs are generated);
* **warm, nothing new**: the same home again (the registry finds every file already loaded,
  the build plan finds nothing to rebuild);
* **warm, --rebuild**: the same home, every model rebuilt (what a code change costs);
* **warm, one revised file**: a home built from the sample without its one revision file
  (ITA's March 2023 against DEU, released three months after the rest), which then arrives:
  the everyday warm run, a delivery of one file (each repeat starts from a copy of that home).

Warm runs are repeated (``--repeat``) and reported by their median; the load average is kept
with each run, since this is a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import REPO, RESULTS, machine, mirror_run, now  # noqa: E402
from project_copy import make_project_copy  # noqa: E402

RESULT = RESULTS / "sample.json"
SAMPLE = REPO / "data" / "sample"
REVISION = Path("comtrade") / "comtrade_final_M_ITA-DEU_202303_released-2025-09-30.csv"


def run(
    project: Path, home: Path, log: Path, *extra: str, landing: Path = SAMPLE
) -> dict[str, Any]:
    result = mirror_run(project, home, landing, log, None, *extra)
    result["load_average"] = [round(x, 1) for x in os.getloadavg()]
    print(f"  {' '.join(extra) or 'run'}: {result['seconds']} s, exit {result['exit_code']}")
    return result


def one_revised_file(project: Path, work: Path, logs: Path, repeat: int) -> list[dict[str, Any]]:
    """The sample without REVISION built once (not timed), then REVISION delivered: ``repeat``
    timed runs, each in that home restored from a copy (at its own path: dbt keeps its parse of
    the project for the warehouse path it was made with, so a home moved elsewhere parses the
    whole project again, which a delivery to a home does not)."""
    landing, home = work / "landing-without-revision", work / "home-revised"
    saved = work / "home-without-revision"
    for folder in (landing, home, saved):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(SAMPLE, landing, ignore=shutil.ignore_patterns(REVISION.name))
    print("the sample without its revision (not timed) ...", flush=True)
    if run(project, home, logs / "without-revision.log", landing=landing)["exit_code"]:
        raise SystemExit("the build of the sample without its revision failed: see its log")
    shutil.copytree(home, saved)
    runs = []
    for i in range(repeat):
        shutil.rmtree(home)
        shutil.copytree(saved, home)
        shutil.copy2(SAMPLE / REVISION, landing / REVISION)
        try:
            runs.append(run(project, home, logs / f"revised-{i}.log", landing=landing))
        finally:
            (landing / REVISION).unlink()
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="warm runs of each kind")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sample-bench")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    project = make_project_copy(args.work / "project")
    home, logs = args.work / "home", args.work / "logs"
    shutil.rmtree(home, ignore_errors=True)  # cold means a fresh home, also in a reused --work
    logs.mkdir(exist_ok=True)
    result: dict[str, Any] = {"started": now()}
    print("cold (fresh home) ...", flush=True)
    result["cold"] = run(project, home, logs / "cold.log")
    warm: dict[str, list[dict[str, Any]]] = {"nothing_new": [], "rebuild": []}
    for i in range(args.repeat):
        warm["nothing_new"].append(run(project, home, logs / f"warm-{i}.log"))
        warm["rebuild"].append(run(project, home, logs / f"rebuild-{i}.log", "--rebuild"))
    warm["one_revised_file"] = one_revised_file(project, args.work, logs, args.repeat)
    result["warm"] = {
        kind: {"median_seconds": statistics.median(r["seconds"] for r in runs), "runs": runs}
        for kind, runs in warm.items()
    }
    result["finished"], result["machine"] = now(), machine()
    RESULT.write_text(json.dumps(result, indent=2, default=str) + "\n")
    from doc import write_doc

    write_doc()
    runs = [result["cold"], *(r for kind in warm.values() for r in kind)]
    return 0 if all(r["exit_code"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
