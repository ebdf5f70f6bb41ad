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
* **warm, --rebuild**: the same home, every model rebuilt (what a code change costs).

Warm runs are repeated (``--repeat``) and reported by their median; the load average is kept
with each run, since this is a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
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


def run(project: Path, home: Path, log: Path, *extra: str) -> dict[str, Any]:
    result = mirror_run(project, home, SAMPLE, log, None, *extra)
    result["load_average"] = [round(x, 1) for x in os.getloadavg()]
    print(f"  {' '.join(extra) or 'run'}: {result['seconds']} s, exit {result['exit_code']}")
    return result


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
    logs.mkdir(exist_ok=True)
    result: dict[str, Any] = {"started": now()}
    print("cold (fresh home) ...", flush=True)
    result["cold"] = run(project, home, logs / "cold.log")
    warm: dict[str, list[dict[str, Any]]] = {"nothing_new": [], "rebuild": []}
    for i in range(args.repeat):
        warm["nothing_new"].append(run(project, home, logs / f"warm-{i}.log"))
        warm["rebuild"].append(run(project, home, logs / f"rebuild-{i}.log", "--rebuild"))
    result["warm"] = {
        kind: {"median_seconds": statistics.median(r["seconds"] for r in runs), "runs": runs}
        for kind, runs in warm.items()
    }
    result["finished"], result["machine"] = now(), machine()
    RESULT.write_text(json.dumps(result, indent=2, default=str) + "\n")
    from doc import write_doc

    write_doc()
    runs = [result["cold"], *warm["nothing_new"], *warm["rebuild"]]
    return 0 if all(r["exit_code"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
