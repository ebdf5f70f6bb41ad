"""`mirror`: the command line. Thin: it runs the same Dagster job the UI runs.

mirror run                       build everything from the landing zone and publish
mirror run --home DIR --landing DIR
mirror checks                    list the GX suites, their expectations and waivers
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import resource
import subprocess
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from dagster_project.jobs import (
    INGEST_JOB_NAME,
    MIRROR_JOB_NAME,
    TRANSFORM_JOB_NAME,
    TRANSFORM_WITHOUT_PERIODS_JOB_NAME,
)
from dagster_project.progress import TerminalProgress, listening, wants_progress
from dagster_project.publish.docs import add_docs_parser
from dagster_project.report.cli import add_report_parser
from dagster_project.settings import (
    EXPECTATIONS_DIR,
    HomeLayout,
    Location,
    Settings,
    SettingsError,
    alert_urls_from_env,
)
from dagster_project.transform.home_parse import finish_home_parse, start_home_parse

if TYPE_CHECKING:  # the CLI imports Dagster only when a command needs it (--help stays quick)
    from dagster import AssetKey, JobDefinition

    from dagster_project.transform.build_plan import BuildPlan

DESCRIPTION = """\
mirror builds a warehouse of mirror trade statistics: what country A says it exported to B,
against what B says it imported from A, with the gap explained or flagged.

Settings (flags win over the environment):
  MIRROR_HOME     working folder (default ./warehouse); warehouse file MIRROR_HOME/mirror.duckdb,
                  BI copy MIRROR_HOME/published/mirror.duckdb, Parquet in MIRROR_HOME/exports/
  MIRROR_LANDING  folder of raw files by source: comtrade/ (default: the embedded sample)
  DAGSTER_HOME    Dagster run history (default MIRROR_HOME/dagster), shared with `dagster dev`

Examples:
  mirror run                                  # the embedded sample into ./warehouse
  mirror run --home /srv/mirror --landing /data/customs
  mirror ingest --landing /data/customs       # only load new files; see raw.file_registry
  mirror checks                               # what the reconciliation checks enforce
  mirror fetch comtrade --reporters KZ,IT --hs 2709 --years 2019-2024 --freq A --landing DIR
  mirror generate --out /tmp/world --target-declarations 1e6   # synthetic world + ground truth
  mirror report                               # the HTML report of the last build
"""

_QUIET_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "DAGSTER_DISABLE_TELEMETRY": "true",
}


_OLD_DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def _prepare_dagster_home(settings: Settings) -> Path:
    from dagster_project.run_history import GENERATED, dagster_yaml

    home = Path(os.environ.get("DAGSTER_HOME") or settings.layout.dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    # Ours: none yet, the one written before run_history.py (its two lines), or one it wrote
    # (GENERATED first), which names its folder and is rewritten when the home moved. Any
    # other file is the user's and is kept.
    current = config.read_text(encoding="utf-8") if config.exists() else None
    wanted = dagster_yaml(home)
    if current != wanted and (
        current is None or current == _OLD_DAGSTER_YAML or current.startswith(GENERATED)
    ):
        config.write_text(wanted, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _plain_meta(metadata: Any) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in (metadata or {}).items()}


KEEP_LOGS = 10  # run logs kept in $MIRROR_HOME/logs (older ones are deleted)


def new_run_log(home: Path) -> Path:
    """``logs/run-<UTC time>-<pid>.log`` for this invocation, ``logs/last_run.log`` pointing at
    it; the oldest beyond KEEP_LOGS go. One file per run: two runs of one home (one waiting for
    the lock) never write into each other's log."""
    logs = HomeLayout(home).logs_dir
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / f"run-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}.log"
    path.touch()
    link = logs / f".last_run.log.{os.getpid()}"
    link.unlink(missing_ok=True)
    link.symlink_to(path.name)
    os.replace(link, logs / "last_run.log")
    for old in sorted(logs.glob("run-*.log"))[:-KEEP_LOGS]:
        old.unlink(missing_ok=True)
    return path


def _summarise(
    result: Any, settings: Settings, elapsed: float, log: Path | None = None
) -> list[str]:
    from dagster import DagsterEventType

    from dagster_project.build_state import ONLY_IF_CHANGED_TAG
    from dagster_project.run_failures import run_causes
    from dagster_project.sources import LANDING_SOURCES

    ingest: list[str] = []
    landing_tables = {spec.raw_table.replace(".", "/") for spec in LANDING_SOURCES}
    landing_rows: list[int] = []  # rows in raw of each landing source the ingest reported
    # a partitioned asset has an event per partition: named once (dicts keep the first order)
    built: dict[str, dict[str, None]] = defaultdict(dict)
    evaluated: dict[tuple[str, str], tuple[str, bool, str, str]] = {}
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.step_materialization_data.materialization
            key = mat.asset_key.to_user_string()
            meta = _plain_meta(mat.metadata)
            if "files_seen" in meta:
                ingest.append(
                    f"{key.split('/')[-1]}: {meta.get('files_loaded', 0)} files loaded, "
                    f"{meta.get('files_unchanged', 0)} unchanged, "
                    f"{meta.get('files_refused', 0)} refused, "
                    f"{meta.get('files_ignored', 0)} ignored; "
                    f"{meta.get('rows_loaded_this_run', 0)} rows loaded, "
                    f"{meta.get('rows_quarantined_this_run', 0)} quarantined "
                    f"({meta.get('dagster/row_count', '?')} rows in {key.replace('/', '.')})"
                )
                ingest += [f"    {line}" for line in _problem_files(meta.get("files"))]
                if key in landing_tables:
                    landing_rows.append(int(meta.get("dagster/row_count") or 0))
            elif meta.get("files_outside_sources"):
                ingest.append(
                    f"outside the source folders: {meta['files_outside_sources']} files ignored"
                )
                ingest += [f"    {line}" for line in _problem_files(meta.get("files"))]
            built[key.split("/")[0]][key.split("/", 1)[-1]] = None
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            ev = event.event_specific_data
            meta = _plain_meta(ev.metadata)
            evaluated[(ev.asset_key.to_user_string(), ev.check_name)] = (
                ev.check_name,
                ev.passed,
                ev.severity.value,
                str(meta.get("summary", "")),
            )
    checks = list(evaluated.values())
    causes = run_causes(result.all_events)
    skipped_steps = getattr(result, "skipped_steps", [])

    verb = "run" if built.get("marts") or not result.success else "ingest"
    skipped = verb == "ingest" and result.dagster_run.tags.get(ONLY_IF_CHANGED_TAG) == "true"
    if skipped:  # `mirror run` whose ingest changed nothing the publication was built from
        verb = "run"
    lines = [f"mirror {verb} {'succeeded' if result.success else 'FAILED'} in {elapsed:.1f}s"]
    if skipped:
        lines.append(
            "  up to date: the ingest changed nothing the last publication was built from, so "
            "nothing was rebuilt, checked or published (`mirror run --rebuild` builds anyway)"
        )
    if skipped_steps and not causes:
        lines += [
            "",
            "Cause:",
            f"  Dagster skipped {', '.join(skipped_steps)} after the build: an output they "
            "need was not recorded (the log says which; a dbt result line it could not read?)",
        ]
    if causes:  # the reason first, in a line or two per cause; tracebacks are in the log
        lines += ["", "Cause:"]
        for cause in causes:
            lines.append(f"  {cause.text()}")
            lines += [f"    {line}" for line in cause.details[:12]]
    if landing_rows and not any(landing_rows):  # a wrong --landing, or files not yet there
        folders = ", ".join(f"{spec.name}/" for spec in LANDING_SOURCES)
        ingest.append(
            f"NOTE: raw holds no row of any landing source: the marts are empty. Are the files "
            f"in {settings.landing} under {folders}?"
        )
    lines += ["", "Ingest:"] + [f"  {line}" for line in ingest or ["(no ingest ran)"]]
    lines += ["", "Built:"]
    for schema in ("raw", "reference", "staging", "intermediate", "marts", "report", "published"):
        if built.get(schema):
            lines.append(f"  {schema:<12} {', '.join(sorted(built[schema]))}")
    if not built:
        lines.append("  (nothing)")
    gx = [c for c in checks if c[0].startswith("gx_")]
    dbt_tests = [c for c in checks if not c[0].startswith("gx_")]
    lines += ["", "Checks:"]
    passed = sum(c[1] for c in dbt_tests)
    if skipped:
        lines.append("  dbt tests    not run (nothing rebuilt)")
    else:
        lines.append(f"  dbt tests    {passed} passed, {len(dbt_tests) - passed} failed")
    for name, ok, severity, _ in dbt_tests:
        if not ok:
            lines.append(f"    failed ({severity.lower()}): {name}")
    if not gx:
        why = "nothing to check: nothing rebuilt" if skipped else "the build stopped before them"
        lines.append(f"  GX suites    not run ({why})")
    for name, ok, severity, summary in gx:
        lines.append(f"  {name:<24} {'PASSED' if ok else 'FAILED'} ({severity.lower()}): {summary}")
    layout = settings.layout
    log = log or layout.logs_dir / "last_run.log"
    lines += [
        "",
        f"Warehouse:   {layout.duckdb_path}",
        f"Published:   {layout.published_duckdb_path}"
        + ("" if "published" in built and "mirror_warehouse" in built["published"] else
           "  (NOT updated by this run)"),
        f"Exports:     {layout.exports_dir}",
        f"Run history: {os.environ.get('DAGSTER_HOME')} (open with `uv run dagster dev`)",
        f"Log:         {log} (Dagster, dbt, tracebacks)",
    ]  # fmt: skip
    return lines


def _problem_files(table: object) -> list[str]:
    """Refused, duplicate and ignored files and files with quarantined rows, from the ingest
    metadata table."""
    text = str(getattr(table, "md_str", table) or "")
    problems = []
    for row in text.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) == 6 and (
            cells[1] in ("refused", "duplicate", "ignored") or cells[4] not in ("0", "")
        ):
            problems.append(f"{cells[1]} {cells[0]}: {cells[5] or cells[4] + ' rows quarantined'}")
    return problems


def _alert_lines(notices: dict[str, Any], home: Path) -> list[str]:
    from dagster_project.alerts.channels import delivery_summary

    audit_trail = HomeLayout(home).alerts_log
    sent = [n for n in notices.values() if n.decision in ("send", "resolve")]
    repeated = sum(n.decision == "repeat" for n in notices.values())
    if not sent:
        text = "none new" + (f" ({repeated} unchanged, sent before)" if repeated else "")
        return [f"Alerts:      {text} (audit trail: {audit_trail})"]
    lines = [f"Alerts:      {len(sent)} new (audit trail: {audit_trail})"]
    for notice in sent:
        lines.append(f"  {notice.title}")
        lines.append(f"    {delivery_summary(notice.delivery)}")
    return lines


def cmd_run(args: argparse.Namespace) -> int:
    return _execute(args, MIRROR_JOB_NAME)


def _up_to_date(settings: Settings, started: float) -> bool:
    """``mirror run`` with nothing new: say so and start nothing (see build_state.py)."""
    from dagster_project.build_state import quick_check

    check = quick_check(settings)
    if not check.up_to_date:
        return False
    layout = settings.layout
    print(
        "\n".join(
            [
                f"mirror run: up to date in {time.monotonic() - started:.1f}s, nothing to do",
                f"  the landing files, code and rules are those publication "
                f"{check.publication_id} was built from today; `mirror run --rebuild` "
                "builds anyway",
                f"Published:   {layout.published_duckdb_path}",
                f"Exports:     {layout.exports_dir}",
            ]
        )
    )
    return True


def cmd_ingest(args: argparse.Namespace) -> int:
    return _execute(args, INGEST_JOB_NAME)


@contextlib.contextmanager
def _output_to(log_file: Any, *, enabled: bool) -> Iterator[Any]:
    """Everything the run writes (Dagster's console log with its tracebacks, dbt, libraries,
    child processes) goes to ``log_file``, at the file-descriptor level; yields a stream on
    the real terminal (stderr) for the live progress."""
    if not enabled:
        yield sys.stderr
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    os.dup2(log_file.fileno(), 1)
    os.dup2(log_file.fileno(), 2)
    try:
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        terminal.close()


def _refuse_start(
    home: Path, job_name: str, exc: SettingsError | str, log_path: Path | None = None
) -> None:
    """Bad settings (or definitions that do not load): no step runs; say so in an alert too
    (channels permitting)."""
    from dagster_project.alerts.channels import deliver
    from dagster_project.alerts.messages import not_started_alert

    try:
        urls = list(alert_urls_from_env())
    except SettingsError:
        urls = []  # the channels themselves are the bad setting: log and alerts.jsonl only
    log_path = log_path or new_run_log(home)
    with log_path.open("a", encoding="utf-8") as log_file, _output_to(log_file, enabled=True):
        deliver(not_started_alert(job_name, str(exc)), home, urls=urls)


def _execute(args: argparse.Namespace, job_name: str) -> int:
    # where the run would write comes first: a bad home or landing stops it with nothing
    # written; any other bad setting stops it before any step (one line per bad setting, not
    # four tracebacks) and is reported as a run that did not start
    location = Location.from_env(args.home, args.landing)
    location.home.mkdir(parents=True, exist_ok=True)
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    try:
        settings = Settings.from_env(args.home, args.landing)
    except SettingsError as exc:
        _refuse_start(location.home, job_name, exc)
        raise
    started = time.monotonic()
    refresh_estimates = getattr(args, "refresh_estimates", False)
    rebuild = getattr(args, "rebuild", False)
    only_if_changed = job_name == MIRROR_JOB_NAME and not rebuild and not refresh_estimates
    if only_if_changed and _up_to_date(settings, started):
        return 0
    _prepare_dagster_home(settings)
    log_path = new_run_log(settings.home)
    quiet = args.quiet or args.verbose  # --verbose shows the logs themselves, not the bar
    print(f"mirror: building {settings.duckdb_path} from {settings.landing} ...", file=sys.stderr)
    with log_path.open("w", encoding="utf-8") as log_file:
        show_progress = wants_progress(quiet)
        with _output_to(log_file, enabled=not args.verbose) as terminal:
            progress = TerminalProgress(terminal) if show_progress else None
            try:
                result, notices = _run_job(
                    settings,
                    job_name,
                    args.verbose,
                    progress,
                    tags=_run_tags(
                        only_if_changed=only_if_changed,
                        all_periods=rebuild,
                        refresh_estimates=refresh_estimates,
                    ),
                )
            except Exception as exc:  # outside any step (definitions, instance): one line
                traceback.print_exc(file=log_file)
                if progress is not None:
                    progress.close()
                failure = f"{type(exc).__name__}: {(str(exc).strip() or '?').splitlines()[0]}"
                print(f"mirror: {job_name} FAILED before it ran: {failure}", file=terminal)
                print(f"  traceback: {log_path}", file=terminal)
                _refuse_start(settings.home, job_name, failure, log_path)
                return 1
            if progress is not None:
                progress.close()
    print("\n".join(_summarise(result, settings, time.monotonic() - started, log_path)))
    print("\n".join(_alert_lines(notices, settings.home)))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"Peak memory: {peak_mb:.0f} MB (this process), {child_mb:.0f} MB (largest child: dbt)")
    return 0 if result.success else 1


def _run_tags(
    *, only_if_changed: bool, all_periods: bool, refresh_estimates: bool
) -> dict[str, str]:
    """The run tags by which the CLI tells the dbt step what to build (build_state,
    transform/build_plan)."""
    from dagster_project.build_state import ONLY_IF_CHANGED_TAG
    from dagster_project.transform.build_plan import ALL_PERIODS_TAG, REFRESH_ESTIMATES_TAG

    wanted = {
        ONLY_IF_CHANGED_TAG: only_if_changed,
        ALL_PERIODS_TAG: all_periods,
        REFRESH_ESTIMATES_TAG: refresh_estimates,
    }
    return {tag: "true" for tag, on in wanted.items() if on}


class RunResults:
    """The runs of one ``mirror`` command read as one: every event in order, success when all
    succeeded and none left steps behind, the last run's tags (what the summary asks of a
    result).

    ``skipped_steps``: the steps Dagster skipped in a run that built marts. Dagster skips a
    step whose input was never recorded and still calls the run a success; after a build
    that is a check or the publication that did not run (seen when Spark's console progress
    bar, glued to dbt's output, hid a model's result from dagster-dbt). A run with nothing to
    rebuild skips them too, legitimately: it built no mart."""

    def __init__(self, results: Sequence[Any]) -> None:
        from dagster import DagsterEventType

        self.results = list(results)
        self.all_events = [event for result in self.results for event in result.all_events]
        built_marts = any(
            event.event_type == DagsterEventType.ASSET_MATERIALIZATION
            and event.asset_key is not None
            and event.asset_key.path[0] == "marts"
            for event in self.all_events
        )
        self.skipped_steps = sorted(
            {
                str(event.step_key)
                for event in self.all_events
                if built_marts and event.event_type == DagsterEventType.STEP_SKIPPED
            }
        )
        self.success = all(result.success for result in self.results) and not self.skipped_steps
        self.dagster_run = self.results[-1].dagster_run
        self.run_id = self.results[-1].run_id


def _run_job(
    settings: Settings,
    job_name: str,
    verbose: bool,
    progress: TerminalProgress | None,
    *,
    tags: dict[str, str] | None = None,
) -> tuple[RunResults, dict[str, Any]]:
    """Run the job in this process (in-process executor: one writer), then the alert logic.

    ``mirror run`` (MIRROR_JOB_NAME) is two runs: the ingest, then everything after it
    (TRANSFORM_JOB_NAME) over every period partition the ingest left, tagged to build what the
    build plan says, or TRANSFORM_WITHOUT_PERIODS_JOB_NAME when raw holds no period
    (transform/partitions.py: Dagster cannot record a partitioned asset in a run without
    partitions, and a run's partitions are fixed when it starts, before its ingest could add
    the new periods)."""
    # Before the definitions are imported (in _run_steps): importing them parses the dbt
    # project when its manifest is stale (a fresh clone, an edited model), and dbt keeps a
    # parse only for the profile it was made with, whose hash includes the warehouse path.
    # Parsed for this home, the build reuses that parse; parsed for the default path, a first
    # run parsed the whole project twice.
    settings.export_to_environ()
    steps = [INGEST_JOB_NAME, TRANSFORM_JOB_NAME] if job_name == MIRROR_JOB_NAME else [job_name]
    # a new home's dbt parse, made while Dagster starts and the ingest runs (home_parse.py)
    parse = (
        start_home_parse(settings.layout, settings.dbt_target)
        if TRANSFORM_JOB_NAME in steps
        else None
    )
    try:
        return _run_steps(settings, steps, verbose, progress, tags, parse)
    finally:
        finish_home_parse(parse, wait=False)


def _run_steps(
    settings: Settings,
    steps: list[str],
    verbose: bool,
    progress: TerminalProgress | None,
    tags: dict[str, str] | None,
    parse: subprocess.Popen[bytes] | None,
) -> tuple[RunResults, dict[str, Any]]:
    from dagster import DagsterInstance

    from dagster_project.alerts.channels import AlertTarget
    from dagster_project.alerts.sensors import notify_run
    from dagster_project.definitions import build_definitions
    from dagster_project.transform.build_plan import PLANNED_TAG
    from dagster_project.transform.partitions import partition_keys_of, planned_run_tags

    defs = build_definitions(settings)
    log_level = "DEBUG" if verbose else "INFO"
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    results = []
    notices: dict[str, Any] = {}
    with DagsterInstance.get() as instance:
        with listening(progress) if progress is not None else contextlib.nullcontext():
            for step in steps:
                run_tags = dict(tags or {})
                selection = None
                if step == TRANSFORM_JOB_NAME:
                    finish_home_parse(parse, wait=True)
                    plan = _planned_build(settings, tags)
                    over_periods = planned_run_tags(
                        instance, partition_keys_of(plan) if plan is not None else None
                    )
                    if over_periods is None:  # no period in raw: no partition to run over
                        step, over_periods = (
                            TRANSFORM_WITHOUT_PERIODS_JOB_NAME,
                            {PLANNED_TAG: "true"},
                        )
                    elif plan is not None:
                        selection = _planned_selection(
                            defs.resolve_job_def(step),
                            plan,
                            keeps_estimates=not settings.uses_spark,
                        )
                    run_tags.update(over_periods)
                result = defs.resolve_job_def(step).execute_in_process(
                    instance=instance,
                    raise_on_error=False,
                    tags=run_tags or None,
                    run_config=run_config,
                    asset_selection=selection,
                )
                results.append(result)
                if not result.success:
                    break
        # no daemon behind the CLI: apply the alert sensors' logic to these runs now
        for result in results:
            notices.update(notify_run(instance, result.run_id, AlertTarget.of(settings)))
    return RunResults(results), notices


def _planned_build(settings: Settings, tags: dict[str, str] | None) -> BuildPlan | None:
    """The build plan of the transform run of ``mirror run`` (after the ingest): its periods are
    the partitions Dagster records, not every period of history, and its changed sources say
    which assets the run selects; None when the plan cannot be read (every partition and every
    asset, as before: the dbt step will then say why)."""
    import duckdb

    from dagster_project.resources import WarehouseLockedError, connect
    from dagster_project.transform.partitions import planned_build

    if not Path(settings.duckdb_path).is_file():
        return None
    try:
        con = connect(Path(settings.duckdb_path), read_only=True)
        try:
            return planned_build(con, tags or {})
        finally:
            con.close()
    except (duckdb.Error, OSError, WarehouseLockedError):
        return None


def _planned_selection(
    job: JobDefinition, plan: BuildPlan, *, keeps_estimates: bool
) -> list[AssetKey] | None:
    """The assets of ``job`` that a build of ``plan`` needs (transform/scope.py): what is
    downstream of the sources whose files changed (the estimates aside when the target
    ``keeps_estimates``); None: every asset of the job."""
    from dagster_project.transform.scope import planned_selection

    graph = job.asset_layer.asset_graph
    specs = [spec for a in graph.assets_defs for spec in a.specs]
    keys = planned_selection(plan, specs, keeps_estimates=keeps_estimates)
    if keys is None:
        return None
    # none of the job's assets is downstream (not expected: a raw table always feeds staging):
    # every asset, as before, rather than an empty selection
    return sorted(keys & set(job.asset_layer.selected_asset_keys)) or None


def cmd_checks(args: argparse.Namespace) -> int:
    from dagster_project.quality.suites import load_suites

    for suite in load_suites(EXPECTATIONS_DIR):
        print(f"{suite.path.name}: {suite.qualified_table} [{suite.severity}] {suite.description}")
        for spec in suite.expectations:
            print(f"  - {spec.name}" + (f": {spec.description}" if spec.description else ""))
        for w in suite.waivers:
            print(
                f"  waiver {w.id}: {w.exporter_iso3}->{w.importer_iso3} HS {w.hs6}, "
                f"expires {w.expires} — {w.reason}"
            )
    return 0


def _add_location_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home", help="working folder (overrides MIRROR_HOME; default ./warehouse)"
    )
    parser.add_argument(
        "--landing", help="landing folder (overrides MIRROR_LANDING; default: embedded sample)"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show Dagster and dbt logs on the terminal (instead of MIRROR_HOME/logs/)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no live progress (it is shown only on a terminal anyway); the summary stays",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mirror", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="ingest the landing zone, build the marts, run the checks, publish",
        description=(
            "Materialise every asset: ingest -> dbt (staging, intermediate, marts) -> GX checks "
            "-> publish. Exit code 0 when every blocking check passed, 1 otherwise (nothing is "
            "published then). When the landing files, the code and the rules are those the "
            "last publication was built from (the same day), nothing is done: see --rebuild."
        ),
    )
    _add_location_flags(run)
    run.add_argument(
        "--rebuild",
        action="store_true",
        help="build every period, check and publish even when nothing changed since the last "
        "publication (by default an unchanged landing zone, code and rules on the same day is a "
        "no-op, and a change rebuilds only the periods it touched); the estimates are kept",
    )
    run.add_argument(
        "--refresh-estimates",
        action="store_true",
        help="compute the estimates that use all of history again (CIF/FOB margins, reporter "
        "noise, detected transit corridors, reporter reliability: a new estimate_vintage), then "
        "every period with them",
    )
    run.set_defaults(func=cmd_run)
    ingest = sub.add_parser(
        "ingest",
        help="only load new or changed landing files into raw (no dbt, no checks, no publish)",
        description=(
            "Load every new or changed file of the landing zone into raw.* (the same step the "
            "landing sensor launches), then print what happened to each file. Files already "
            "loaded are skipped; bad rows go to raw.quarantine; unusable files are refused "
            "with a reason in raw.file_registry."
        ),
    )
    _add_location_flags(ingest)
    ingest.set_defaults(func=cmd_ingest)
    checks = sub.add_parser(
        "checks", help="list the reconciliation checks, their expectations and waivers"
    )
    checks.set_defaults(func=cmd_checks)
    # `fetch` and `generate` are tools (mirror_tools), imported here and not at module level:
    # Dagster, which imports this package, never loads them, and their parsers load without
    # the tools' own dependencies (checked when a tool runs).
    from mirror_tools.fetch import add_fetch_parser
    from mirror_tools.generate.cli import add_generate_parser

    add_fetch_parser(sub)
    add_docs_parser(sub)
    add_report_parser(sub)
    add_generate_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a pipe's buffer is written here, inside the try
        return code
    except SettingsError as exc:
        for line in str(exc).splitlines():
            print(f"mirror: {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader of stdout went away (`mirror run | head`): what it did not read is not an
        # error of the run; stdout goes to /dev/null so Python's exit flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a process ended by SIGPIPE


def entry() -> NoReturn:
    """The ``mirror`` command: :func:`main`, then exit without tearing the interpreter down.

    By the end of a run everything that must outlive it is closed and on disk (the warehouse
    and the published files by their own context managers, run history by the instance's).
    What is left is freeing the objects of Dagster, dbt's manifest and GX one by one: 1.6 s of
    a 19 s ``mirror run`` of the sample, measured (py-spy: samples outside any Python frame
    after the last atexit handler). So the output and the log files are flushed and the
    process ends. :func:`main` itself returns normally, for callers in Python (the tests)."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    entry()
