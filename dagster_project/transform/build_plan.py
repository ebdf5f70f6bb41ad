"""What a dbt build must compute: every period, or only the periods the ingest touched.

The declaration-level chain is built by period (dbt macros ``dbt/macros/build_by_period.sql``):
a period model deletes and re-inserts the periods of ``MIRROR_BUILD_PERIODS`` and keeps the
others; a window model (the timing windows, the gaps) the periods whose timing window
reaches those, and a trailing model (what judges the gaps) those window periods and the
recurrence windows after them, or every period when the frequencies reporters declare changed
(the snapshots of :data:`SNAPSHOT_SCHEMA`). The estimates (CIF/FOB margins, reporter noise,
detected transit corridors, reporter reliability) use all of history: they are kept, with their
``estimate_vintage``, until a build refreshes them.

A build is one of three kinds (:func:`decide`):

* ``refresh``: ``dbt build --full-refresh``: the estimates are computed again (a new vintage)
  and every period with them. When asked (run tag :data:`REFRESH_ESTIMATES_TAG`: ``mirror run
  --refresh-estimates``, the estimates schedule), when no build was recorded in this warehouse
  yet, and when the code or rules changed (a model's SQL, a var, a seed: every row may change);
* ``all_periods``: every period again with the estimates kept (``mirror run --rebuild``, run tag
  :data:`ALL_PERIODS_TAG`), and whenever the periods cannot be told: a changed file of a source
  whose rows do not say their period here (energy registers, reference tables);
* ``periods``: the (freq, period) pairs of the rows of every Comtrade or Comext file version
  loaded, superseded or put back since the last successful build (both versions' rows: a
  revision can remove a key). Comext's annual totals are periods ``YYYY52`` of the file and
  ``A``/``YYYY`` in the warehouse: a Comext period P counts as ``M``/P and ``A``/P[:4], a
  superset, never fewer.

What the last successful build read is recorded in the warehouse itself (schema ``build``,
:func:`record_build`) after dbt succeeded: a build that failed half-way is simply planned again
from the same difference (period models are idempotent), and a warehouse file copied elsewhere
takes its record with it. Anything unreadable means a bigger build, never a smaller one.

A run of some Dagster partitions of the period models (a backfill from the UI,
``transform/partitions.py``) is not planned: it builds exactly its periods
(:func:`for_partitions`) and leaves the record as it is. Its partition keys are the pairs
:func:`periods_in_raw` finds, by the query that places a version here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import duckdb

from dagster_project import jobs
from dagster_project.ingest import registry
from dagster_project.ingest.sql import table_exists
from dagster_project.sources import comext, comtrade

# run tags: ask for new estimates (and so every period), or for every period with the estimates kept
REFRESH_ESTIMATES_TAG = "mirror/refresh_estimates"
ALL_PERIODS_TAG = "mirror/all_periods"
# a run over every period partition that builds what the plan says (dagster_project/jobs.py)
PLANNED_TAG = jobs.PLANNED_TAG

BUILT_VERSIONS_TABLE = "build.file_versions"  # the registry rows the last build read
BUILT_CODE_TABLE = "build.code"  # the code fingerprint it was built with (one row)
# snapshots a running dbt build takes of what it is about to rebuild, so that it can compare
# after (dbt/macros/build_by_period.sql, macro rows_before): build.reporter_frequencies_before
# (the frequencies each reporter declared). Every table of schema build named so is a
# snapshot; `_before_years` is what versions before 6 December 2026 also left (the years of a
# snapshot of the reliability scores, then a year model), dropped with the rest.
SNAPSHOT_SCHEMA = "build"
SNAPSHOT_SUFFIXES = ("_before", "_before_years")

# raw table of each source whose rows name their (freq, period), and how: a SQL expression of
# the pairs a row touches, as a list of 'freq:period' strings, and the columns it reads
PERIOD_SOURCES: dict[str, tuple[str, str, str]] = {
    comtrade.SPEC.name: (
        comtrade.SPEC.raw_table,
        """["freqCode" || ':' || period]""",
        '"freqCode", period',
    ),
    comext.SPEC.name: (
        comext.SPEC.raw_table,
        """['M:' || trim("PERIOD"), 'A:' || left(trim("PERIOD"), 4)]""",
        '"PERIOD"',
    ),
}

Kind = Literal["refresh", "all_periods", "periods"]

# what a (freq, period) pair looks like; anything else (a malformed period that was loaded)
# is not passed to SQL: every period is built instead
_PAIR = re.compile(r"[A-Z]:[0-9]{4,6}")


@dataclass(frozen=True)
class BuildPlan:
    kind: Kind
    reason: str  # why this kind, in words (log, metadata)
    periods: tuple[tuple[str, str], ...] = ()  # (freq, period), sorted; kind "periods" only
    estimate_vintage: str = ""  # kind "refresh" only: the vintage of the estimates computed
    # kind "periods" only: the sources (PERIOD_SOURCES) of the changed versions that hold rows,
    # sorted; only what is downstream of their raw tables needs building (transform/scope.py)
    sources: tuple[str, ...] = ()

    def dbt_args(self) -> list[str]:
        """What ``dbt build`` needs besides the selection: ``--full-refresh`` on a refresh."""
        return ["--full-refresh"] if self.kind == "refresh" else []

    def dbt_env(self) -> dict[str, str]:
        """The periods to build and the vintage of new estimates, for dbt's environment
        (``dbt/macros/build_by_period.sql``). Not ``--vars``: dbt parses the whole project
        again whenever its vars change, but only the files that read an environment variable
        when it changes. Both are always set, so an unchanged plan reads unchanged values."""
        periods = [list(p) for p in self.periods] if self.kind == "periods" else None
        return {
            "MIRROR_BUILD_PERIODS": json.dumps(periods),
            "MIRROR_ESTIMATE_VINTAGE": self.estimate_vintage if self.kind == "refresh" else "",
        }

    def partition_keys(self) -> list[str]:
        """The periods as Dagster partition keys, ``freq:period`` (kind "periods" only)."""
        return [f"{freq}:{period}" for freq, period in self.periods]

    def scope(self) -> str:
        """What the period models build, in a few words (the progress line)."""
        if self.kind == "periods":
            return f"{len(self.periods)} period(s)"
        return "every period, estimates refreshed" if self.kind == "refresh" else "every period"

    def describe(self) -> str:
        if self.kind == "refresh":
            return (
                f"estimates refreshed ({self.reason}), every period: "
                f"vintage {self.estimate_vintage}"
            )
        if self.kind == "all_periods":
            return f"every period, estimates kept ({self.reason})"
        shown = ", ".join(self.partition_keys()[:12])
        more = f" and {len(self.periods) - 12} more" if len(self.periods) > 12 else ""
        return f"{len(self.periods)} period(s) ({self.reason}): {shown or 'none'}{more}"


def for_partitions(keys: Iterable[str]) -> BuildPlan:
    """The plan of a run of some ``freq:period`` partitions (a backfill from the Dagster UI):
    exactly those periods, the estimates kept, whatever changed elsewhere (the record of the
    last complete build stays as it is, so the next ``mirror run`` still builds the rest)."""
    pairs = set()
    for key in keys:
        if not _PAIR.fullmatch(key):
            raise ValueError(f"partition {key!r} is not a period (freq:period, e.g. M:202403)")
        freq, period = key.split(":", 1)
        pairs.add((freq, period))
    return BuildPlan("periods", "the partitions of this run", tuple(sorted(pairs)))


def vintage(now: dt.datetime, data_fingerprint: str, code_fingerprint: str) -> str:
    """When the estimates were computed, and from which inputs (the build_state fingerprints)."""
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{stamp} data:{data_fingerprint[:12]} code:{code_fingerprint[:12]}"


@dataclass(frozen=True)
class ChangedVersion:
    path: str
    sha256: str
    source: str
    has_rows: bool  # loaded or superseded: its rows are in raw


def decide(
    *,
    refresh_asked: bool,
    all_periods_asked: bool,
    built_code: str | None,
    code: str,
    changed: Iterable[ChangedVersion],
    periods_of: dict[tuple[str, str], list[tuple[str, str]]],
    new_vintage: str,
) -> BuildPlan:
    """The plan from what was asked, what the last build recorded (``built_code`` None: none)
    and the file versions that changed since; ``periods_of`` gives the periods of a version's
    rows (PERIOD_SOURCES only)."""
    if refresh_asked:
        return BuildPlan("refresh", "asked", estimate_vintage=new_vintage)
    if built_code is None:
        return BuildPlan(
            "refresh", "no build recorded in this warehouse", estimate_vintage=new_vintage
        )
    if built_code != code:
        return BuildPlan("refresh", "the code or rules changed", estimate_vintage=new_vintage)
    if all_periods_asked:
        return BuildPlan("all_periods", "asked")
    periods: set[tuple[str, str]] = set()
    sources: set[str] = set()
    files = 0
    for version in changed:
        if not version.has_rows:
            continue  # refused, ignored, a duplicate: nothing of it is in raw
        if version.source not in PERIOD_SOURCES:
            return BuildPlan(
                "all_periods",
                f"{version.path} ({version.source}) changed: its periods are not known",
            )
        files += 1
        sources.add(version.source)
        for freq, period in periods_of.get((version.path, version.sha256), []):
            if not _PAIR.fullmatch(f"{freq}:{period}"):
                return BuildPlan(
                    "all_periods", f"{version.path} has a period {freq}:{period!r} not understood"
                )
            periods.add((freq, period))
    return BuildPlan(
        "periods",
        f"{files} file version(s) changed",
        tuple(sorted(periods)),
        sources=tuple(sorted(sources)),
    )


# a version in one of these states has its rows in raw (history is kept for superseded ones)
_ROWS_KEPT = ("loaded", "superseded")


def _pairs_by_version(
    con: duckdb.DuckDBPyConnection, source: str, where: str = "true", params: object = None
) -> dict[tuple[str, str], list[str]]:
    """The ``freq:period`` pairs of the rows of each file version of ``source``'s raw table
    (one of PERIOD_SOURCES) that ``where`` keeps: the one query that places a version into
    periods, for the build plan and for the Dagster partitions alike."""
    table, pairs, _ = PERIOD_SOURCES[source]
    found = con.execute(
        f"""
        SELECT _source_file, _file_sha256, list(DISTINCT pair ORDER BY pair)
        FROM (SELECT _source_file, _file_sha256, unnest({pairs}) AS pair
              FROM {table} WHERE {where})
        GROUP BY ALL
        """,
        params,
    ).fetchall()
    return {(path, sha256): list(pair_list) for path, sha256, pair_list in found}


def periods_of_versions(
    con: duckdb.DuckDBPyConnection, source: str, versions: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """The (freq, period) pairs of the rows of each (path, sha256) version of ``source``."""
    wanted = [f"{path}\0{sha256}" for path, sha256 in versions]
    found = _pairs_by_version(
        con, source, "_source_file || chr(0) || _file_sha256 IN (SELECT unnest(?))", [wanted]
    )
    return {
        version: [tuple(p.split(":", 1)) for p in pair_list]  # type: ignore[misc]
        for version, pair_list in found.items()
    }


def periods_in_raw(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    """Every ``freq:period`` pair of the rows of ``source`` (one of PERIOD_SOURCES) in raw,
    superseded versions included (a revision can remove a key), sorted; none when its table
    does not exist yet. Pairs that are not periods (:data:`_PAIR`) are left out: the plan
    builds every period when it meets one."""
    table, pairs, columns = PERIOD_SOURCES[source]
    if not table_exists(con, table):
        return []
    # the distinct values of the columns first: a few hundred, where the pairs of every row
    # were 5 M strings at 5M declarations (0.56 s -> 0.06 s, on every ingest)
    found = con.execute(
        f"SELECT DISTINCT unnest({pairs}) FROM (SELECT DISTINCT {columns} FROM {table})"
    ).fetchall()
    return sorted(p for (p,) in found if p is not None and _PAIR.fullmatch(p))


def plan(
    con: duckdb.DuckDBPyConnection,
    *,
    refresh_asked: bool,
    all_periods_asked: bool,
    code: str,
    new_vintage: str,
) -> BuildPlan:
    """:func:`decide` on the warehouse ``con`` (read only is enough)."""
    built_code = None
    if table_exists(con, BUILT_CODE_TABLE) and table_exists(con, BUILT_VERSIONS_TABLE):
        row = con.execute(f"SELECT code FROM {BUILT_CODE_TABLE}").fetchone()
        built_code = row[0] if row else None
    changed: list[ChangedVersion] = []
    periods_of: dict[tuple[str, str], list[tuple[str, str]]] = {}
    if built_code is not None and not refresh_asked:
        rows = con.execute(
            f"""
            WITH now AS (SELECT path, sha256, status, source FROM {registry.REGISTRY_TABLE}),
            built AS (SELECT path, sha256, status, source FROM {BUILT_VERSIONS_TABLE}),
            changed AS (
                (SELECT * FROM now EXCEPT SELECT * FROM built)
                UNION (SELECT * FROM built EXCEPT SELECT * FROM now)
            )
            SELECT path, sha256, source, bool_or(status IN {_ROWS_KEPT}) FROM changed
            GROUP BY ALL ORDER BY path, sha256
            """
        ).fetchall()
        changed = [ChangedVersion(*row) for row in rows]
        for source in PERIOD_SOURCES:
            versions = [(c.path, c.sha256) for c in changed if c.source == source and c.has_rows]
            if versions:
                periods_of.update(periods_of_versions(con, source, versions))
    return decide(
        refresh_asked=refresh_asked,
        all_periods_asked=all_periods_asked,
        built_code=built_code,
        code=code,
        changed=changed,
        periods_of=periods_of,
        new_vintage=new_vintage,
    )


def plan_of_run(
    con: duckdb.DuckDBPyConnection,
    tags: Mapping[str, str],
    *,
    code: str,
    new_vintage: str,
    every_partition: bool = False,
) -> BuildPlan:
    """:func:`plan` for a run with these tags (:data:`REFRESH_ESTIMATES_TAG`,
    :data:`ALL_PERIODS_TAG`), or over every period partition: the one reading of the tags, for
    the dbt step and for ``mirror run``, which asks before its transform run which partitions
    that run will build and which assets it selects (``partitions.planned_build``)."""
    return plan(
        con,
        refresh_asked=tags.get(REFRESH_ESTIMATES_TAG) == "true",
        all_periods_asked=every_partition or tags.get(ALL_PERIODS_TAG) == "true",
        code=code,
        new_vintage=new_vintage,
    )


def record_build(con: duckdb.DuckDBPyConnection, code: str) -> None:
    """After a successful dbt build: what it read (the registry now, the code), in one
    transaction, so the next build plans from here."""
    con.execute("BEGIN TRANSACTION")
    con.execute("CREATE SCHEMA IF NOT EXISTS build")
    con.execute(
        f"CREATE OR REPLACE TABLE {BUILT_VERSIONS_TABLE} AS "
        f"SELECT path, sha256, status, source FROM {registry.REGISTRY_TABLE}"
    )
    con.execute(f"CREATE OR REPLACE TABLE {BUILT_CODE_TABLE} AS SELECT ? AS code", [code])
    con.execute("COMMIT")


def forget_versions(con: duckdb.DuckDBPyConnection) -> None:
    """After a run that rebuilt some periods but not the trailing models downstream (a run of some
    models from the UI): every version counts as changed, so the next planned build rebuilds
    every period with the estimates kept (the code record stays)."""
    if table_exists(con, BUILT_VERSIONS_TABLE):
        con.execute(f"DELETE FROM {BUILT_VERSIONS_TABLE}")


def forget_snapshots(con: duckdb.DuckDBPyConnection) -> None:
    """After a successful dbt build: the trailing models agree with the reporters' frequencies, so
    the snapshots taken before it (dbt macro ``snapshot_reporter_frequencies``) go. A build that
    failed half-way keeps them: the next compares with what the models were built from."""
    named_so = " OR ".join("ends_with(table_name, ?)" for _ in SNAPSHOT_SUFFIXES)
    for (table,) in con.execute(
        "SELECT table_name FROM duckdb_tables() "
        f"WHERE database_name = current_database() AND schema_name = ? AND ({named_so})",
        [SNAPSHOT_SCHEMA, *SNAPSHOT_SUFFIXES],
    ).fetchall():
        con.execute(f'DROP TABLE IF EXISTS {SNAPSHOT_SCHEMA}."{table}"')


def forget_build(con: duckdb.DuckDBPyConnection) -> None:
    """Before a build that changes the estimates or every period: if it fails half-way, the
    next one must not plan from the old record (it would build too little)."""
    con.execute(f"DROP TABLE IF EXISTS {BUILT_CODE_TABLE}")
