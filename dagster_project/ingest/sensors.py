"""A sensor that notices new or changed landing files and launches the build for them.

It looks only at the file system (size and modification time), never at the warehouse, so
it is cheap and cannot collide with a running build. The launched run ingests just the new
file versions (the registry skips the rest) and rebuilds what depends on them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import dagster as dg

from dagster_project.ingest.spec import SourceSpec, files_of


def fingerprint(paths: Iterable[Path]) -> dict[str, str]:
    """``{path: "size:mtime_ns"}`` for the given files (vanished files are skipped)."""
    prints: dict[str, str] = {}
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        prints[str(path)] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return prints


def changed_files(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    """Paths that are new or whose size/mtime changed since ``previous``."""
    return sorted(p for p, fp in current.items() if previous.get(p) != fp)


def build_landing_sensor(
    sources: Sequence[tuple[SourceSpec, Sequence[dg.AssetKey]]],
    job_name: str,
    minimum_interval_seconds: int = 60,
) -> dg.SensorDefinition:
    """``sources`` pairs each source with the assets to run when its files change (its ingest
    asset and everything downstream of it)."""

    def _evaluate(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        root = Path(context.resources.landing.path)
        previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        current: dict[str, str] = {}
        selection: set[dg.AssetKey] = set()
        changed: list[str] = []
        for spec, keys in sources:
            prints = fingerprint(files_of(root, spec))
            current.update(prints)
            new = changed_files(previous, prints)
            if new:
                selection.update(keys)
                changed += new
        if not changed:
            return dg.SensorResult(
                skip_reason=f"no new or changed files under {root}", cursor=json.dumps(current)
            )
        run_key = hashlib.sha256(
            json.dumps({p: current[p] for p in changed}, sort_keys=True).encode()
        ).hexdigest()[:16]
        context.log.info(f"{len(changed)} new or changed file(s): {', '.join(changed[:10])}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=run_key,
                    asset_selection=sorted(selection, key=lambda k: k.to_user_string()),
                    tags={"mirror/trigger": "landing_sensor", "mirror/files": str(len(changed))},
                )
            ],
            cursor=json.dumps(current),
        )

    return dg.SensorDefinition(
        name="landing_zone_sensor",
        evaluation_fn=_evaluate,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={"landing"},
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Watches MIRROR_LANDING for new or changed files (size and mtime; the warehouse is "
            "not opened) and launches the ingest of the sources they belong to. Turn it on in "
            "the UI or with `dagster sensor start landing_zone_sensor`; needs the daemon "
            "(`dagster dev` runs one)."
        ),
    )
