"""Raw layout study (issue 15): what keeping Comtrade raw as text costs, against typing each
landing file once, into DuckDB tables or into a Parquet lake.

    uv run mirror generate --out /tmp/w1m --target-declarations 1e6 --years 2020-2024 \\
        --freq AM --seed 20250701
    uv run mirror generate --out /tmp/w1m-inc --reporters 40 --products 87 --years 2025 \\
        --months 1 --freq M --seed 20250701 --no-duplicate     # one more month, same world
    uv run python benchmarks/raw_layout.py run --world /tmp/w1m --increment /tmp/w1m-inc \\
        --label 1M                                               # 10-15 min, 2 busy cores
    uv run python benchmarks/raw_layout.py table                # the markdown table of results

(`--reporters`/`--products` of the increment: the ones the world was generated with, from
its ground_truth/world.json.) A dev tool: it imports the pipeline's ingest code but is no part
of the package, and it changes nothing in dagster_project/ or dbt/.

The layouts (each in its own throw-away home under --work):

  A text   today. The real ingest (dagster_project.ingest.loader.ingest_files with
           sources.comtrade.SPEC: registry, sha256, batches of MIRROR_INGEST_BATCH_MB, row
           rules, quarantine) into raw.comtrade_final, every delivered column VARCHAR. Staging is
           dbt/models/staging/comtrade/stg_comtrade__final.sql rendered as dbt would (a view):
           its try_casts run every time a model reads it.
  B typed  The same loader, registry, batching and quarantine, into a raw.comtrade_final whose
           columns have the types staging casts to (read from that model's try_casts). One more
           rule per typed column quarantines a row whose value does not cast, with its delivered
           text (raw.quarantine.raw_record), so no value is silently lost. Staging: the same model
           without its try_casts (renames only).
  C lake   The same typing and quarantine; the typed rows of each file version go to
           $HOME/lake/comtrade_final/<sha256>.parquet (zstd; written under a temporary name,
           fsynced, renamed). raw.file_registry (DuckDB) says which versions exist and which are
           current; raw.comtrade_final is a view over read_parquet([registered versions]),
           rebuilt after each ingest. Staging as in B.
  C2 lake  As C, but one Parquet file per ingest batch (one COPY, no partitioning; a table
           raw.lake_files maps each version to its file, in the load's transaction): the cost of
           many small files, isolated. Superseded versions stay readable as in C.

Each step is a subprocess under /usr/bin/time (wall seconds, CPU seconds, peak RSS of the
process); it also reports the seconds of the work itself (without interpreter start-up and
imports; wall and CPU) and the load average before and after. On a shared machine compare CPU
seconds first: wall time moves with the others' load (the same step twice: 1x to 3x).
Per layout and repetition, on a fresh home:

  ingest     every file of --world
  size       on disk: the DuckDB file (C: + the lake folder)
  query      (1) a full staging scan (every column of stg_comtrade__final computed: what each
             dbt run pays to read staging) and (2) the mirror pairing (totals at HS6 from
             current versions, latest release per key, exports A->B against imports B<-A by
             freq x period x HS6, over the whole table): twice in one process, cold and warm;
             then (3) staging written to one zstd Parquet file: what handing Spark typed rows
             costs (issue 16)
  +1 file    one more file (the largest of --increment, with 3 values made bad: the quarantine
             path runs; each layout must quarantine exactly 3 rows)
  +month     the other files of --increment (one batch)
  query      again, after the increments

Layouts run interleaved (A B C C2, then C2 C B A, ...) so that a change of load falls on all
of them.
At the end the layouts must agree (rows loaded and quarantined, the pairing's totals); if not,
the results are still written and the exit code is 1.

Results: benchmarks/results/raw_layout.json (one entry per --label, replaced by a new run of that
label). docs/raw-layout-study.md carries the table (`table`) and the reasoning.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import re
import shutil
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import REPO, RESULTS, machine, measure, now  # noqa: E402

RESULT = RESULTS / "raw_layout.json"
STAGING_MODEL = REPO / "dbt" / "models" / "staging" / "comtrade" / "stg_comtrade__final.sql"
MACROS = REPO / "dbt" / "macros"
LAYOUTS = {
    "A": "text: VARCHAR raw table, staging casts (today)",
    "B": "typed DuckDB raw table, staging renames",
    "C": "typed Parquet lake, one file per version, staging reads read_parquet([...])",
    "C2": "as C, one Parquet file per ingest batch (registry table maps version -> file)",
}
LAKE_LAYOUTS = ("C", "C2")
DIRTY = {  # data row index -> (column, bad value, the rule that must catch it)
    4: ("primaryValue", "n/a", "not a number"),
    5: ("qty", "-5", "negative value"),
    6: ("cmdCode", "2709000", "HS code must be 2, 4 or 6 digits"),
}
PAIRING_SQL = """
with declarations as (
    select freq, period, reporter_code, partner_code, flow_code, cmd_code as hs6,
           primary_value_usd
    from staging.stg_comtrade__final
    where not is_breakdown and aggr_level = 6 and is_current_file_version
      and flow_code in ('X', 'M')
    qualify row_number() over (
        partition by freq, period, reporter_code, flow_code, partner_code, cmd_code
        order by file_release_date desc nulls last, loaded_at desc, source_file desc,
                 source_row_number desc) = 1
),
x as (
    select freq, period, reporter_code as exporter, partner_code as importer, hs6,
           sum(primary_value_usd) as value_usd
    from declarations where flow_code = 'X' group by all
),
m as (
    select freq, period, partner_code as exporter, reporter_code as importer, hs6,
           sum(primary_value_usd) as value_usd
    from declarations where flow_code = 'M' group by all
)
select count(*) as pairs, count(x.value_usd) as export_side, count(m.value_usd) as import_side,
       round(sum(x.value_usd), 2) as export_usd, round(sum(m.value_usd), 2) as import_usd
from x full join m using (freq, period, exporter, importer, hs6)
"""
STAGING_SCAN_SQL = "select count(*), max(columns(*)) from staging.stg_comtrade__final"


# --------------------------------------------------------------------------------------
# the layouts: types, rules, staging SQL (derived from the dbt model, never retyped)
# --------------------------------------------------------------------------------------

_TRY_CAST = re.compile(r'try_cast\(\s*("?)(\w+)\1\s+as\s+(\w+)\s*\)', re.IGNORECASE)


def staging_types() -> dict[str, str]:
    """Delivered column -> the type stg_comtrade__final casts it to (from its try_casts):
    the typed layouts store exactly these types, so their staging is the model minus casts."""
    from dagster_project.sources.comtrade import COLUMNS

    by_lower = {c.lower(): c for c in COLUMNS}
    types: dict[str, str] = {}
    for _quote, column, type_ in _TRY_CAST.findall(STAGING_MODEL.read_text(encoding="utf-8")):
        if column.lower() not in by_lower:
            raise SystemExit(f"{STAGING_MODEL.name}: try_cast of unknown column {column!r}")
        types[by_lower[column.lower()]] = type_.upper()
    if not types:
        raise SystemExit(f"{STAGING_MODEL}: no try_cast found; update raw_layout.staging_types")
    return types


def staging_sql(typed: bool) -> str:
    """stg_comtrade__final as dbt compiles it (its macros rendered, sources in schema raw);
    for the typed layouts the same SQL without the try_casts."""
    import jinja2

    macros = "\n".join(p.read_text(encoding="utf-8") for p in sorted(MACROS.glob("*.sql")))
    template = jinja2.Environment().from_string(
        macros + "\n" + STAGING_MODEL.read_text(encoding="utf-8")
    )
    sql = template.render(
        source=lambda _source, table: f"raw.{table}",
        ref=lambda model: f"staging.{model}",
        var=lambda name, default=None: default,
        env_var=lambda name, default="": os.environ.get(name, default),
    )
    return _TRY_CAST.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}", sql) if typed else sql


def typed_ddl(table: str, *, temp: bool = False) -> str:
    """The typed raw table: the delivered columns (typed where staging types them, else
    VARCHAR), the load metadata, the comtrade extra columns: the VARCHAR table's shape."""
    from dagster_project.ingest.spec import LOAD_METADATA_COLUMNS
    from dagster_project.ingest.sql import quote_ident
    from dagster_project.sources.comtrade import COLUMNS, EXTRA_COLUMNS

    types = staging_types()
    cols = [f"{quote_ident(c)} {types.get(c, 'VARCHAR')}" for c in COLUMNS]
    cols += [f"{n} {t}" for n, t in {**LOAD_METADATA_COLUMNS, **EXTRA_COLUMNS}.items()]
    kind = "TEMP TABLE" if temp else "TABLE IF NOT EXISTS"
    return f"CREATE {kind} {table} (\n  " + ",\n  ".join(cols) + "\n)"


def typed_rules() -> tuple[Any, ...]:
    """Today's row rules, then one per typed column: a value that does not cast quarantines
    its row (the delivered text is kept in raw.quarantine), instead of becoming NULL."""
    from dagster_project.ingest import quarantine as q
    from dagster_project.sources.comtrade import ROW_RULES

    extra = tuple(
        q.Rule(c, f"{{c}} is not null and try_cast({{c}} as {t}) is null", f"not {t.lower()}")
        for c, t in staging_types().items()
    )
    return (*ROW_RULES, *extra)


LAKE_PENDING = "_lake_rows"  # temp table: the typed rows of the files being written
LAKE_WRITE_SECONDS = [0.0]  # time spent in write_lake by this process (reported by the step)


def _load_batch_typed(
    con: Any,
    files: dict[Path, str],
    *,
    loaded_at: Any,
    target: str,
    rules: Sequence[Any],
    after: Callable[[Any], None] | None,
) -> Any:
    """sources.comtrade.load_batch with the target table and the rules as parameters (that
    one hard-codes raw.comtrade_final and ROW_RULES); ``after`` runs before the commit."""
    from dagster_project.ingest import quarantine as q
    from dagster_project.ingest.spec import INCOMING, BatchResult, LoadResult
    from dagster_project.ingest.text_files import inspect_delimited, stage_delimited_batch
    from dagster_project.sources import comtrade as ct

    first = next(iter(files))
    kind, inspected = ct.file_kind(first), inspect_delimited(first)
    load_alone = stage_delimited_batch(
        con, list(files), inspected, known_columns=ct.COLUMNS,
        computed={"_problem": q.problem_sql(rules)},
    )  # fmt: skip
    if kind == "bulk":
        ct._derive_missing_aggr_level(con, inspected.header)
    batch = {path: sha for path, sha in files.items() if path not in load_alone}
    counts = q.split_and_insert_files(
        con, staged=INCOMING, raw_table=target, columns=ct.COLUMNS, rules=rules,
        source=ct.SOURCE, loaded_at=loaded_at, line_offset=1, checked=True,
        files={path: q.FileValues(sha, ct._extra_values(path)) for path, sha in batch.items()},
    )  # fmt: skip
    if after is not None:
        after(con)
    detected = ct._detected_format(kind, inspected.describe())
    loaded = {}
    for path in batch:
        read, quarantined = counts.get(path, (0, 0))
        loaded[path] = LoadResult(read, read - quarantined, quarantined, detected)
    return BatchResult(loaded, tuple(sorted(load_alone)))


def write_lake(con: Any, lake: Path) -> int:
    """Move the pending typed rows to one Parquet file per file version, then empty them.

    One partitioned COPY (one scan) into a temporary folder of the lake; each partition's file
    is fsynced and renamed to ``<sha256>.parquet`` (atomic on one file system: a reader sees a
    whole file or none). A crash before the registry commits leaves a file no registry row
    names: never read, overwritten by the reload (same bytes, same name)."""
    started = time.perf_counter()
    tmp = lake / f".incoming-{uuid.uuid4().hex}"
    con.execute(
        f"COPY {LAKE_PENDING} TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, "
        "PARTITION_BY (_file_sha256), WRITE_PARTITION_COLUMNS true)"
    )
    written = 0
    if tmp.exists():
        for part in sorted(tmp.iterdir()):
            sha = part.name.partition("=")[2]
            parts = sorted(part.glob("*.parquet"))
            if not re.fullmatch(r"[0-9a-f]{64}", sha) or len(parts) != 1:
                raise RuntimeError(f"unexpected partition output {part}: {parts}")
            fd = os.open(parts[0], os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            os.replace(parts[0], lake / f"{sha}.parquet")
            written += 1
        dir_fd = os.open(lake, os.O_RDONLY)
        os.fsync(dir_fd)
        os.close(dir_fd)
        shutil.rmtree(tmp)
    con.execute(f"DELETE FROM {LAKE_PENDING}")
    LAKE_WRITE_SECONDS[0] += time.perf_counter() - started
    return written


LAKE_FILES_DDL = "CREATE TABLE IF NOT EXISTS raw.lake_files (sha256 VARCHAR, lake_file VARCHAR)"


def write_lake_batch(con: Any, lake: Path) -> int:
    """C2: the pending rows of a whole batch as ONE Parquet file (temporary name, fsync,
    rename); ``raw.lake_files`` maps each version to it, in the load's transaction."""
    started = time.perf_counter()
    name = f"{uuid.uuid4().hex}.parquet"
    tmp = lake / f".incoming-{name}"
    con.execute(f"COPY {LAKE_PENDING} TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
    fd = os.open(tmp, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    os.replace(tmp, lake / name)
    dir_fd = os.open(lake, os.O_RDONLY)
    os.fsync(dir_fd)
    os.close(dir_fd)
    con.execute(
        f"INSERT INTO raw.lake_files SELECT DISTINCT _file_sha256, ? FROM {LAKE_PENDING}", [name]
    )
    con.execute(f"DELETE FROM {LAKE_PENDING}")
    LAKE_WRITE_SECONDS[0] += time.perf_counter() - started
    return 1


def refresh_lake_view(con: Any, lake: Path, per_batch: bool = False) -> int:
    """raw.comtrade_final := the registered versions' Parquet files (loaded or superseded:
    staging keeps superseded rows for revisions). Built from the registry, never from a glob,
    so an orphan file (a crash before the registry commit) is never read."""
    registered = (
        "SELECT DISTINCT sha256 FROM raw.file_registry WHERE source = 'comtrade' "
        "AND status IN ('loaded', 'superseded') AND rows_loaded > 0"
    )
    if per_batch:
        names = con.execute(
            f"SELECT DISTINCT lake_file FROM raw.lake_files WHERE sha256 IN ({registered}) "
            "ORDER BY 1"
        ).fetchall()
    else:
        names = con.execute(
            f"SELECT sha256 || '.parquet' FROM ({registered}) ORDER BY 1"
        ).fetchall()
    files = [lake / name for (name,) in names]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise RuntimeError(f"{len(missing)} registered lake file(s) missing, e.g. {missing[0]}")
    if files:
        listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
        select = f"SELECT * FROM read_parquet([{listed}])"
    else:
        con.execute(typed_ddl("raw.comtrade_lake_empty"))  # no version yet: an empty view
        select = "SELECT * FROM raw.comtrade_lake_empty"
    con.execute("BEGIN TRANSACTION")
    con.execute(f"CREATE OR REPLACE VIEW raw.comtrade_final AS {select}")
    con.execute("COMMIT")
    return len(files)


def spec_for(layout: str, home: Path, con: Any) -> Any:
    """The SourceSpec the real loader runs for ``layout`` (tables created as it needs)."""
    from dagster_project.ingest import quarantine as q
    from dagster_project.ingest.spec import INCOMING, LoadResult, SourceSpec
    from dagster_project.sources import comtrade as ct

    if layout == "A":
        return ct.SPEC
    rules = typed_rules()
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    if layout == "B":
        # created typed first: the spec's own CREATE TABLE IF NOT EXISTS is then a no-op
        con.execute(typed_ddl(ct.RAW_TABLE))
        loader = partial(_load_batch_typed, target=ct.RAW_TABLE, rules=rules, after=None)
        return dataclasses.replace(ct.SPEC, rules=rules, load_batch=loader)

    lake = home / "lake" / "comtrade_final"
    lake.mkdir(parents=True, exist_ok=True)
    con.execute(typed_ddl(LAKE_PENDING, temp=True))
    if layout == "C2":
        con.execute(LAKE_FILES_DDL)
    after = partial(write_lake_batch if layout == "C2" else write_lake, lake=lake)

    @dataclasses.dataclass(frozen=True)
    class LakeSpec(SourceSpec):
        """Rows go to the pending temp table, then to the lake, inside the load's
        transaction (the registry row commits after the file is in place)."""

        def ensure_tables(self, con: Any) -> None:
            con.execute("CREATE SCHEMA IF NOT EXISTS raw")

        def load_file(self, con: Any, path: Path, *, sha256: str, loaded_at: Any) -> Any:
            staged = self.stage(con, path, sha256=sha256, loaded_at=loaded_at)
            counts = q.split_and_insert_files(
                con, staged=INCOMING, raw_table=LAKE_PENDING, columns=ct.COLUMNS,
                rules=self.rules, source=ct.SOURCE,
                files={path: q.FileValues(sha256, dict(staged.extra_values))},
                loaded_at=loaded_at, line_offset=staged.line_offset, single_file=True,
            )  # fmt: skip
            after(con)
            read, quarantined = counts.get(path, (0, 0))
            rejected = staged.rows_rejected
            return LoadResult(
                read + rejected, read - quarantined, quarantined + rejected, staged.detected_format
            )

    fields = {f.name: getattr(ct.SPEC, f.name) for f in dataclasses.fields(ct.SPEC)}
    fields.update(
        rules=rules,
        load_batch=partial(_load_batch_typed, target=LAKE_PENDING, rules=rules, after=after),
    )
    return LakeSpec(**fields)


# --------------------------------------------------------------------------------------
# the measured steps (each run in its own process by `run`)
# --------------------------------------------------------------------------------------


def _connect(home: Path, memory_limit: str | None, read_only: bool = False) -> Any:
    import duckdb

    config = {"memory_limit": memory_limit} if memory_limit else {}
    return duckdb.connect(str(home / "mirror.duckdb"), read_only=read_only, config=config)


def step_ingest(layout: str, home: Path, landing: Path, memory_limit: str | None) -> dict:
    """Load the new files of ``landing`` (the real loader), then (re)create staging."""
    from dagster_project.ingest.loader import ingest_files
    from dagster_project.ingest.spec import files_of
    from dagster_project.settings import REFERENCE_DIR
    from dagster_project.sources import comtrade as ct
    from dagster_project.sources.reference import REFERENCE_TABLES, load_reference_table

    started = time.perf_counter()
    home.mkdir(parents=True, exist_ok=True)
    con = _connect(home, memory_limit)
    codes = next(r for r in REFERENCE_TABLES if r.table == "ref_comtrade_country_codes")
    load_reference_table(con, codes, REFERENCE_DIR)
    spec = spec_for(layout, home, con)
    paths = files_of(landing, ct.SPEC)
    t_load, cpu_load = time.perf_counter(), time.process_time()
    outcomes = ingest_files(con, spec, paths, log=lambda _line: None)
    load_seconds = time.perf_counter() - t_load
    load_cpu = time.process_time() - cpu_load
    lake_files = None
    if layout in LAKE_LAYOUTS:
        lake_files = refresh_lake_view(con, home / "lake" / "comtrade_final", layout == "C2")
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    con.execute(
        "CREATE OR REPLACE VIEW staging.stg_comtrade__final AS " + staging_sql(layout != "A")
    )
    con.close()  # checkpoint: part of a durable load
    statuses = Counter(o.status for o in outcomes)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "load_seconds": round(load_seconds, 2),
        "load_cpu_seconds": round(load_cpu, 2),
        "files": dict(statuses),
        "rows_read": sum(o.rows_read for o in outcomes),
        "rows_loaded": sum(o.rows_loaded for o in outcomes),
        "rows_quarantined": sum(o.rows_quarantined for o in outcomes),
        "lake_files": lake_files,
        "lake_write_seconds": round(LAKE_WRITE_SECONDS[0], 2) if layout in LAKE_LAYOUTS else None,
    }


def step_query(home: Path, memory_limit: str | None) -> dict:
    """The full staging scan and the pairing, twice each (cold and warm process); wall and
    CPU seconds (time.process_time: every thread of the process, DuckDB's included)."""
    con = _connect(home, memory_limit, read_only=True)
    out: dict[str, Any] = {}
    for attempt in ("cold", "warm"):
        t, cpu = time.perf_counter(), time.process_time()
        rows = con.execute(STAGING_SCAN_SQL).fetchone()[0]
        out[f"staging_scan_{attempt}"] = round(time.perf_counter() - t, 2)
        out[f"staging_scan_{attempt}_cpu"] = round(time.process_time() - cpu, 2)
        t, cpu = time.perf_counter(), time.process_time()
        pairing = con.execute(PAIRING_SQL).fetchone()
        out[f"pairing_{attempt}"] = round(time.perf_counter() - t, 2)
        out[f"pairing_{attempt}_cpu"] = round(time.process_time() - cpu, 2)
    # what issue 16's Spark would be handed: typed staging rows as one zstd Parquet file
    export = home / "export-stg_comtrade__final.parquet"
    t, cpu = time.perf_counter(), time.process_time()
    con.execute(
        "COPY (SELECT * FROM staging.stg_comtrade__final) "
        f"TO '{export}' (FORMAT parquet, COMPRESSION zstd)"
    )
    out["export_parquet"] = round(time.perf_counter() - t, 2)
    out["export_parquet_cpu"] = round(time.process_time() - cpu, 2)
    out["export_parquet_mb"] = _size_mb(export)
    export.unlink()
    out["staging_rows"] = rows
    out["pairing_totals"] = dict(
        zip(
            ("pairs", "export_side", "import_side", "export_usd", "import_usd"),
            pairing,
            strict=True,
        )
    )
    quarantine = con.execute("SELECT reason, count(*) FROM raw.quarantine GROUP BY 1").fetchall()
    out["quarantine"] = {reason: n for reason, n in sorted(quarantine)}
    con.close()
    return out


# --------------------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------------------


def _size_mb(path: Path) -> float:
    if path.is_file():
        return round(path.stat().st_size / 1e6, 1)
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0
    return round(total / 1e6, 1)


def _dirty_copy(increment: Path, dest_dir: Path) -> Path:
    """The largest file of the increment, with the DIRTY values: 'one more file' that also
    exercises the quarantine (each layout must quarantine exactly those rows)."""
    files = sorted(
        (increment / "landing" / "comtrade").glob("*.csv"), key=lambda p: p.stat().st_size
    )
    if not files:
        raise SystemExit(f"{increment}/landing/comtrade has no .csv: generate the increment first")
    src = files[-1]
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    with src.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    for index, (column, value, _rule) in DIRTY.items():
        rows[1 + index][header.index(column)] = value
    with dest.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return dest


def _link_all(files: Sequence[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        (folder / f.name).symlink_to(f.resolve())


def _step(args: list[str], log: Path, memory_limit: str | None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if memory_limit:
        args = [*args, "--memory-limit", memory_limit]
    load_before = os.getloadavg()[0]
    result = measure([sys.executable, str(Path(__file__).resolve()), "step", *args],
                     cwd=REPO, env=env, log=log)  # fmt: skip
    result["load_before"], result["load_after"] = (
        round(load_before, 2),
        round(os.getloadavg()[0], 2),
    )
    if result["exit_code"]:
        raise SystemExit(f"step {' '.join(args)} failed, see {log}")
    lines = log.read_text(encoding="utf-8").strip().splitlines()
    result.update(json.loads(lines[-1]))
    return result


def run_layout(layout: str, rep: int, world: Path, increment: Path, work: Path,
               dirty: Path, memory_limit: str | None) -> dict:  # fmt: skip
    base = work / f"{layout}-r{rep}"
    if base.exists():
        shutil.rmtree(base)
    home, landing, logs = base / "home", base / "landing", base / "logs"
    logs.mkdir(parents=True)
    _link_all(sorted((world / "landing" / "comtrade").iterdir()), landing / "comtrade")
    ingest = ["--layout", layout, "--home", str(home), "--landing", str(landing)]
    out: dict[str, Any] = {"layout": layout, "rep": rep}
    print(f"  {layout} r{rep}: ingest ...", flush=True)
    out["ingest"] = _step(["ingest", *ingest], logs / "ingest.log", memory_limit)
    out["size_mb"] = {"duckdb": _size_mb(home / "mirror.duckdb"), "lake": _size_mb(home / "lake")}
    out["query"] = _step(["query", "--home", str(home)], logs / "query.log", memory_limit)
    _link_all([dirty], landing / "comtrade")
    out["add_file"] = _step(["ingest", *ingest], logs / "add_file.log", memory_limit)
    rest = [
        p for p in sorted((increment / "landing" / "comtrade").iterdir()) if p.name != dirty.name
    ]
    _link_all(rest, landing / "comtrade")
    out["add_month"] = _step(["ingest", *ingest], logs / "add_month.log", memory_limit)
    out["query_after"] = _step(
        ["query", "--home", str(home)], logs / "query_after.log", memory_limit
    )
    out["size_mb_after"] = {
        "duckdb": _size_mb(home / "mirror.duckdb"),
        "lake": _size_mb(home / "lake"),
    }
    ing = out["ingest"]
    print(
        f"  {layout} r{rep}: ingest {ing['seconds']} s ({ing['peak_rss_mb']} MB), "
        f"query {out['query']['pairing_cold']} s, +file {out['add_file']['seconds']} s, "
        f"+month {out['add_month']['seconds']} s; load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return out


METRICS: dict[str, Callable[[dict], float | None]] = {
    "ingest_s": lambda r: r["ingest"]["seconds"],
    "ingest_cpu_s": lambda r: r["ingest"].get("cpu_seconds"),
    "ingest_work_s": lambda r: r["ingest"]["load_seconds"],
    "ingest_work_cpu_s": lambda r: r["ingest"].get("load_cpu_seconds"),
    "lake_write_s": lambda r: r["ingest"]["lake_write_seconds"],
    "ingest_rss_mb": lambda r: r["ingest"]["peak_rss_mb"],
    "disk_mb": lambda r: r["size_mb"]["duckdb"] + r["size_mb"]["lake"],
    "staging_scan_cold_s": lambda r: r["query"]["staging_scan_cold"],
    "staging_scan_cold_cpu_s": lambda r: r["query"].get("staging_scan_cold_cpu"),
    "staging_scan_warm_s": lambda r: r["query"]["staging_scan_warm"],
    "pairing_cold_s": lambda r: r["query"]["pairing_cold"],
    "pairing_cold_cpu_s": lambda r: r["query"].get("pairing_cold_cpu"),
    "pairing_warm_s": lambda r: r["query"]["pairing_warm"],
    "pairing_warm_cpu_s": lambda r: r["query"].get("pairing_warm_cpu"),
    "export_s": lambda r: r["query"].get("export_parquet"),
    "export_cpu_s": lambda r: r["query"].get("export_parquet_cpu"),
    "export_mb": lambda r: r["query"].get("export_parquet_mb"),
    "query_rss_mb": lambda r: r["query"]["peak_rss_mb"],
    "add_file_s": lambda r: r["add_file"]["seconds"],
    "add_file_cpu_s": lambda r: r["add_file"].get("cpu_seconds"),
    "add_file_work_s": lambda r: r["add_file"]["load_seconds"],
    "add_month_s": lambda r: r["add_month"]["seconds"],
    "add_month_cpu_s": lambda r: r["add_month"].get("cpu_seconds"),
    "add_month_work_s": lambda r: r["add_month"]["load_seconds"],
    "add_month_rss_mb": lambda r: r["add_month"]["peak_rss_mb"],
    "pairing_after_cold_s": lambda r: r["query_after"]["pairing_cold"],
    "pairing_after_cold_cpu_s": lambda r: r["query_after"].get("pairing_cold_cpu"),
    "disk_after_mb": lambda r: r["size_mb_after"]["duckdb"] + r["size_mb_after"]["lake"],
}


def summarise(runs: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Per layout and metric: median, min, max over the repetitions."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for layout in sorted({r["layout"] for r in runs}):
        mine = [r for r in runs if r["layout"] == layout]
        out[layout] = {}
        for name, get in METRICS.items():
            values = [float(v) for v in map(get, mine) if v is not None]
            if not values:
                continue
            out[layout][name] = {
                "n": len(values),
                "median": round(statistics.median(values), 2),
                "min": round(min(values), 2),
                "max": round(max(values), 2),
            }
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal, floats within 0.01 + 1e-9 relative (sums in another order differ in the last
    digits, even for the same layout twice)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 0.01 + 1e-9 * max(abs(a), abs(b))
    return a == b


def agreement(runs: list[dict]) -> list[str]:
    """What differs between layouts that must not (empty: they agree)."""
    problems = []

    def facts(r: dict) -> dict:
        return {
            "rows_loaded": r["ingest"]["rows_loaded"],
            "rows_quarantined": r["ingest"]["rows_quarantined"],
            "staging_rows": r["query_after"]["staging_rows"],
            "pairing_before": r["query"]["pairing_totals"],
            "pairing_after": r["query_after"]["pairing_totals"],
            "quarantine_after": r["query_after"]["quarantine"],
        }

    reference = facts(runs[0])
    for r in runs:
        if r["add_file"]["rows_quarantined"] != len(DIRTY):
            problems.append(
                f"{r['layout']} r{r['rep']}: +1 file quarantined "
                f"{r['add_file']['rows_quarantined']} rows, expected {len(DIRTY)}"
            )
        for key, value in facts(r).items():
            if not _same(value, reference[key]):
                problems.append(
                    f"{r['layout']} r{r['rep']}: {key} {value} != {reference[key]} "
                    f"({runs[0]['layout']} r{runs[0]['rep']})"
                )
    return problems


def cmd_run(args: argparse.Namespace) -> int:
    world, increment = args.world.resolve(), args.increment.resolve()
    for folder in (world, increment):
        if not (folder / "landing" / "comtrade").is_dir():
            raise SystemExit(f"{folder}/landing/comtrade is missing: run `mirror generate` first")
    layouts = [x.strip() for x in args.layouts.split(",") if x.strip()]
    unknown = [x for x in layouts if x not in LAYOUTS]
    if unknown:
        raise SystemExit(f"--layouts: unknown {unknown}; use a subset of {','.join(LAYOUTS)}")
    work = (args.work / args.label).resolve()
    work.mkdir(parents=True, exist_ok=True)
    dirty = _dirty_copy(increment, work / "dirty")
    world_info = json.loads((world / "ground_truth" / "world.json").read_text())
    stored = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    previous = stored.get(args.label) if args.append else None
    if previous and previous["world"]["dir"] != str(world):
        raise SystemExit(
            f"--append: label {args.label} was measured on {previous['world']['dir']}, not "
            f"{world}; use another --label"
        )
    started = previous["started"] if previous else now()
    runs = list(previous["runs"]) if previous else []
    first = 1 + max((r["rep"] for r in runs), default=-1)
    for rep in range(first, first + args.repeat):
        order = layouts if rep % 2 == 0 else layouts[::-1]
        for layout in order:
            runs.append(run_layout(layout, rep, world, increment, work, dirty, args.memory_limit))
            if not args.keep:
                shutil.rmtree(work / f"{layout}-r{rep}" / "home")
    problems = agreement(runs)
    result = {
        "label": args.label,
        "started": started,
        "finished": now(),
        "world": {
            "dir": str(world),
            "declarations": world_info.get("declarations"),
            "files": world_info.get("files"),
            "landing_mb": _size_mb(world / "landing"),
            "increment_files": len(list((increment / "landing" / "comtrade").iterdir())),
            "increment_mb": _size_mb(increment / "landing"),
            "add_file_mb": _size_mb(dirty),
        },
        "memory_limit": args.memory_limit or "DuckDB default (80% of RAM)",
        "layouts": {
            k: LAYOUTS[k] for k in sorted({r["layout"] for r in runs}, key=list(LAYOUTS).index)
        },
        "machine": machine(),
        "summary": summarise(runs),
        "agree": not problems,
        "problems": problems,
        "runs": runs,
    }
    stored[args.label] = result
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(stored, indent=1) + "\n", encoding="utf-8")
    print(markdown_table(stored))
    for p in problems:
        print(f"DISAGREE: {p}")
    print(f"results: {RESULT}")
    return 1 if problems else 0


ROWS = (
    ("ingest, whole world: wall (s)", "ingest_s"),
    ("  CPU, user + system (s)", "ingest_cpu_s"),
    ("  of which loading: wall (s)", "ingest_work_s"),
    ("  of which loading: CPU (s)", "ingest_work_cpu_s"),
    ("  of which Parquet writing: wall (s)", "lake_write_s"),
    ("ingest peak RSS (MB)", "ingest_rss_mb"),
    ("on disk after ingest (MB)", "disk_mb"),
    ("full staging scan, cold: wall (s)", "staging_scan_cold_s"),
    ("  CPU (s)", "staging_scan_cold_cpu_s"),
    ("full staging scan, warm: wall (s)", "staging_scan_warm_s"),
    ("mirror pairing, cold: wall (s)", "pairing_cold_s"),
    ("  CPU (s)", "pairing_cold_cpu_s"),
    ("mirror pairing, warm: wall (s)", "pairing_warm_s"),
    ("  CPU (s)", "pairing_warm_cpu_s"),
    ("staging to one Parquet file (for Spark): wall (s)", "export_s"),
    ("  CPU (s)", "export_cpu_s"),
    ("  its size (MB)", "export_mb"),
    ("query peak RSS (MB), the export included", "query_rss_mb"),
    ("+1 file: wall (s)", "add_file_s"),
    ("  CPU (s)", "add_file_cpu_s"),
    ("  of which loading: wall (s)", "add_file_work_s"),
    ("+1 month: wall (s)", "add_month_s"),
    ("  CPU (s)", "add_month_cpu_s"),
    ("  of which loading: wall (s)", "add_month_work_s"),
    ("+1 month peak RSS (MB)", "add_month_rss_mb"),
    ("mirror pairing after the month, cold: wall (s)", "pairing_after_cold_s"),
    ("  CPU (s)", "pairing_after_cold_cpu_s"),
    ("on disk after the month (MB)", "disk_after_mb"),
)


def markdown_table(stored: dict) -> str:
    """One table per label: median of the repetitions, [min-max] when they differ."""
    out = []
    for label, result in stored.items():
        summary = result["summary"]
        layouts = list(summary)
        w = result["world"]
        loads = [
            r[step][k]
            for r in result["runs"]
            for step in ("ingest", "query", "add_file", "add_month", "query_after")
            for k in ("load_before", "load_after")
        ]
        out.append(
            f"### {label}: {w['declarations']:,} declarations in {w['files']} files "
            f"({w['landing_mb']:.0f} MB of CSV); +1 month = {w['increment_files']} files\n\n"
            f"{len(result['runs']) // max(len(layouts), 1)} repetitions per layout, interleaved "
            "(n=: a step measured in fewer of them); "
            f"load average (1 min) during the steps {min(loads):.1f}-{max(loads):.1f}; "
            f"memory limit: {result['memory_limit']}; layouts agree: "
            f"{'yes' if result['agree'] else 'NO'}\n"
        )
        out.append("| | " + " | ".join(f"{k}: {result['layouts'][k]}" for k in layouts) + " |")
        out.append("|---" * (len(layouts) + 1) + "|")
        reps = len(result["runs"]) // max(len(layouts), 1)
        for title, key in ROWS:
            if not any(key in summary[k] for k in layouts):
                continue  # not measured in this label's runs (an older version of the tool)
            cells = []
            for k in layouts:
                if key not in summary[k]:
                    cells.append("-")
                    continue
                s = summary[k][key]
                spread = "" if s["min"] == s["max"] else f" [{s['min']:g}-{s['max']:g}]"
                fewer = f" (n={s['n']})" if s.get("n", reps) < reps else ""
                cells.append(f"{s['median']:g}{spread}{fewer}")
            out.append(f"| {title} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def cmd_table(_args: argparse.Namespace) -> int:
    if not RESULT.exists():
        raise SystemExit(f"{RESULT} does not exist yet: run `raw_layout.py run` first")
    stored = json.loads(RESULT.read_text())
    for result in stored.values():  # from the runs: the summary of the current METRICS
        result["summary"] = summarise(result["runs"])
    print(markdown_table(stored))
    return 0


def cmd_step(args: argparse.Namespace) -> int:
    if args.what == "ingest":
        out = step_ingest(args.layout, args.home, args.landing, args.memory_limit)
    else:
        out = step_query(args.home, args.memory_limit)
    print(json.dumps(out))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="raw_layout.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="measure the layouts on a world and its increment",
        description="Measure layouts A, B, C, C2 (see `raw_layout.py --help`) on --world, then "
        "add one file and one month of --increment; write benchmarks/results/raw_layout.json.",
    )
    run.add_argument(
        "--world", type=Path, required=True,
        help="a `mirror generate --out` folder (its landing/comtrade is loaded)",
    )  # fmt: skip
    run.add_argument(
        "--increment", type=Path, required=True,
        help="a one-month `mirror generate --months 1` folder of the same world",
    )  # fmt: skip
    run.add_argument("--label", required=True, help="the result's name, e.g. 1M or 5M")
    run.add_argument("--repeat", type=int, default=2, help="repetitions per layout (default 2)")
    run.add_argument("--layouts", default=",".join(LAYOUTS),
                     help=f"subset to run (default {','.join(LAYOUTS)})")  # fmt: skip
    run.add_argument(
        "--work", type=Path, default=Path("/tmp/raw-layout-work"),
        help="throw-away homes and logs (default /tmp/raw-layout-work/<label>)",
    )  # fmt: skip
    run.add_argument(
        "--memory-limit", default=None,
        help="DuckDB memory_limit of every step (default DuckDB's 80%% of RAM)",
    )  # fmt: skip
    run.add_argument("--keep", action="store_true", help="keep the homes (disk!) for inspection")
    run.add_argument(
        "--append", action="store_true",
        help="add --repeat repetitions to the stored runs of --label (same world) instead of "
        "replacing them: more repetitions when the machine was noisy",
    )  # fmt: skip
    run.set_defaults(func=cmd_run)
    table = sub.add_parser("table", help="print the markdown table of the stored results")
    table.set_defaults(func=cmd_table)
    step = sub.add_parser("step", help="(internal) one measured step, in its own process")
    step.add_argument("what", choices=("ingest", "query"))
    step.add_argument("--layout", choices=tuple(LAYOUTS), default="A")
    step.add_argument("--home", type=Path, required=True)
    step.add_argument("--landing", type=Path)
    step.add_argument("--memory-limit", default=None)
    step.set_defaults(func=cmd_step)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
