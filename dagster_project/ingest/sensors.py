"""A sensor that notices new or changed landing files and launches the build for them.

It looks only at the file system (size and modification time), never at the warehouse, so
it is cheap and cannot collide with a running build. The launched run ingests just the new
file versions (the registry skips the rest) and rebuilds what depends on them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
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
    *,
    run_tags: Callable[[dg.DagsterInstance], Mapping[str, str] | None] = lambda _: {},
    ingest_keys: Collection[dg.AssetKey] = (),
    period_sources: Collection[str] = (),
    period_keys: Collection[dg.AssetKey] = (),
) -> dg.SensorDefinition:
    """``sources`` pairs each source with the assets to run when its files change (its ingest
    asset and everything downstream of it).

    ``run_tags`` gives the launched run's tags from the instance (the period partitions to
    run over, transform/partitions.py); None when no period partition exists. Then:

    * if files of a ``period_sources`` source changed, only the ``ingest_keys`` of the
      selection run (their periods become partitions) and the cursor stays, so the next tick
      launches the build of the same files over those partitions;
    * otherwise (energy registers only: raw may never hold a period) the build runs without
      partitions and without the ``period_keys`` (Dagster cannot record a partitioned asset in
      a run without partitions; dbt builds those models apart, empty: transform/assets.py)."""

    def _evaluate(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        root = Path(context.resources.landing.path)
        previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        current: dict[str, str] = {}
        selection: set[dg.AssetKey] = set()
        changed: list[str] = []
        periods_changed = False
        for spec, keys in sources:
            prints = fingerprint(files_of(root, spec))
            current.update(prints)
            new = changed_files(previous, prints)
            if new:
                selection.update(keys)
                changed += new
                periods_changed |= spec.name in period_sources
        if not changed:
            return dg.SensorResult(
                skip_reason=f"no new or changed files under {root}", cursor=json.dumps(current)
            )
        run_key = hashlib.sha256(
            json.dumps({p: current[p] for p in changed}, sort_keys=True).encode()
        ).hexdigest()[:16]
        tags = {"mirror/trigger": "landing_sensor", "mirror/files": str(len(changed))}
        extra = run_tags(context.instance)
        cursor = json.dumps(current)
        if extra is None and periods_changed:
            selection = {k for k in selection if k in ingest_keys}
            run_key, cursor = f"{run_key}-ingest", context.cursor or json.dumps({})
            context.log.info("no period partition yet: this run ingests, the next one builds")
        elif extra is None:
            selection -= set(period_keys)
            context.log.info("no period in raw: the build runs without the period models")
        context.log.info(f"{len(changed)} new or changed file(s): {', '.join(changed[:10])}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=run_key,
                    asset_selection=sorted(selection, key=lambda k: k.to_user_string()),
                    tags={**tags, **(extra or {})},
                )
            ],
            cursor=cursor,
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
