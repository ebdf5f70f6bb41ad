"""The names of the code location's jobs, apart from the definitions that build them.

The CLI needs a job's name before it may load the definitions (loading them validates the
``MIRROR_*`` settings, and a bad setting must become an alert of a run that did not start), and
the Comtrade schedule targets a job without importing the definitions that import it. So do
the tags of a run over every period partition (the schedule asks for them; sources must not
import transform, which imports sources).
"""

from __future__ import annotations

from collections.abc import Collection

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

MIRROR_JOB_NAME = "mirror_build"
INGEST_JOB_NAME = "mirror_ingest"
# everything after the ingest: what `mirror run` launches once its ingest run has added the
# period partitions of what it loaded (transform/partitions.py)
TRANSFORM_JOB_NAME = "mirror_transform"
# the same without the period models: what `mirror run` launches when raw holds no period (an
# empty landing folder, energy registers only), as Dagster cannot record a partitioned asset,
# nor what is downstream of it, in a run without partitions (the dbt step builds those empty
# models first, outside Dagster: transform/assets.py)
TRANSFORM_WITHOUT_PERIODS_JOB_NAME = "mirror_transform_without_periods"

# the Dagster partitions of the period models (transform/partitions.py), keys freq:period
PERIOD_PARTITIONS_NAME = "period"
# run tag of a run over every period partition that builds what the plan says (``mirror run``,
# the landing sensor, the schedules): its partitions are what Dagster records as materialized;
# a run of partitions without it (a backfill from the UI) builds exactly its partitions
PLANNED_TAG = "mirror/planned"


def planned_run_tags(
    instance: dg.DagsterInstance, within: Collection[str] | None = None
) -> dict[str, str] | None:
    """The tags of a run that builds what the build plan says (``mirror run``, the landing
    sensor, the schedules), and :data:`PLANNED_TAG`: over every period partition known now, or,
    given ``within`` (the partition keys the plan builds, known to ``mirror run`` between its
    ingest and its transform run), over the smallest range of partitions that holds them. The
    run's partitions are what Dagster records as materialized when it succeeds (the plan
    leaves none stale); a range, because a run's partitions are one range. Every partition
    costs Dagster two event-log writes per period model (planned, then materialized): ~1,400
    writes for the sample's 78 periods; on the 5M world (66 periods) the planned ones alone
    held the dbt step back ~6 s, which a month added to a long history should not pay. An
    empty ``within`` (the plan builds no period: only the tables over all periods) is the
    last partition, as a partitioned run needs one.
    None when no partition exists yet (nothing ingested): such a run cannot build the period
    models (their partitions are fixed when it starts, before its ingest adds them).

    Why partitioned at all: Dagster 1.13 cannot evaluate the dbt tests of a partitioned asset
    (asset checks) in a run without partitions (``Cannot access partition_key for a
    non-partitioned run``)."""
    keys = instance.get_dynamic_partitions(PERIOD_PARTITIONS_NAME)
    if not keys:
        return None
    if within is not None:
        wanted = set(within)
        keys = [key for key in keys if key in wanted] or keys[-1:]
    return {
        PLANNED_TAG: "true",
        ASSET_PARTITION_RANGE_START_TAG: keys[0],
        ASSET_PARTITION_RANGE_END_TAG: keys[-1],
    }
