"""The one owner of the settings: every ``MIRROR_*`` variable is read, defaulted and validated
here, and every path under ``$MIRROR_HOME`` is defined here (:class:`HomeLayout`).

``MIRROR_HOME``     working folder; the warehouse is ``$MIRROR_HOME/mirror.duckdb``
                    (default ``./warehouse``).
``MIRROR_LANDING``  folder of raw source files laid out by source (``comtrade/``, ...);
                    default: the embedded sample in ``data/sample``.
``MIRROR_INGEST_BATCH_MB``  how many MB of same-layout landing files ingest reads in one
                    scan and one transaction (default 128; 0 = one file at a time). Larger
                    batches are faster and use more memory (about 8x the batch size).
``MIRROR_DUCKDB_MEMORY_LIMIT``  DuckDB's memory_limit for every warehouse connection and
                    dbt (default ``80%`` of RAM, DuckDB's own default; e.g. ``1GB``: larger
                    joins then spill to ``<warehouse>.tmp`` and run somewhat slower).
``MIRROR_RUN_LOCK_WAIT_SECONDS``  how long a run waits for another run of the same home.
``MIRROR_UI_URL``   where the Dagster UI of this home is served (``http://host:3000``): alerts
                    then link to the run and the checks there.
``MIRROR_ALERT_URLS``  Apprise URLs of the alert channels (secrets: never printed).
``MIRROR_DBT_TARGET``  the dbt target (``dbt/profiles.yml``) that runs the models: ``duckdb``
                    (default), or Spark: ``spark_local`` (in process, ``local[2]``),
                    ``spark_cluster`` (master ``MIRROR_SPARK_MASTER``), ``spark_connect``
                    (``MIRROR_SPARK_REMOTE``); see docs/spark.md. Ingest, the checks and the
                    publication stay on the DuckDB working warehouse whatever the target.

:meth:`Settings.from_env` checks all of them at once, before a run starts any step: a bad
value stops the run with one line per problem instead of failing every step that reads it.
The Dagster resources receive the values as fields (``definitions.py``); dbt, a child
process, receives them through the environment :meth:`Settings.export_to_environ` writes.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_LANDING = REPO_ROOT / "data" / "sample"
REFERENCE_DIR = REPO_ROOT / "data" / "reference"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
DBT_PROJECT_DIR = REPO_ROOT / "dbt"

DEFAULT_HOME = "warehouse"
DEFAULT_INGEST_BATCH_MB = 128
MEGABYTE = 1024 * 1024
DEFAULT_INGEST_BATCH_BYTES = DEFAULT_INGEST_BATCH_MB * MEGABYTE
DEFAULT_DUCKDB_MEMORY_LIMIT = "80%"
DEFAULT_RUN_LOCK_WAIT_SECONDS = 1800.0

HOME_ENV = "MIRROR_HOME"
LANDING_ENV = "MIRROR_LANDING"
INGEST_BATCH_ENV = "MIRROR_INGEST_BATCH_MB"
MEMORY_LIMIT_ENV = "MIRROR_DUCKDB_MEMORY_LIMIT"
RUN_LOCK_WAIT_ENV = "MIRROR_RUN_LOCK_WAIT_SECONDS"
UI_URL_ENV = "MIRROR_UI_URL"
ALERT_URLS_ENV = "MIRROR_ALERT_URLS"
DBT_TARGET_ENV = "MIRROR_DBT_TARGET"
SPARK_MASTER_ENV = "MIRROR_SPARK_MASTER"  # spark_cluster: spark://host:7077, k8s://..., yarn
SPARK_REMOTE_ENV = "MIRROR_SPARK_REMOTE"  # spark_connect: sc://host:15002
SPARK_DIR_ENV = "MIRROR_SPARK_DIR"  # written for dbt (profiles.yml, spark macros)
DEFAULT_DBT_TARGET = "duckdb"
# the targets of dbt/profiles.yml; the Spark ones and what each needs besides the spark group
SPARK_TARGETS: dict[str, str | None] = {
    "spark_local": None,
    "spark_cluster": SPARK_MASTER_ENV,
    "spark_connect": SPARK_REMOTE_ENV,
}
DBT_TARGETS = (DEFAULT_DBT_TARGET, *SPARK_TARGETS)
COMTRADE_BASE_URL_ENV = "MIRROR_COMTRADE_BASE_URL"  # `mirror fetch`: tests or a proxy
FETCH_ENV = {  # the scheduled Comtrade fetch (sources/comtrade_schedule.py)
    "reporters": "MIRROR_FETCH_REPORTERS",
    "hs": "MIRROR_FETCH_HS",
    "freq": "MIRROR_FETCH_FREQ",
    "years": "MIRROR_FETCH_YEARS",
    "cron": "MIRROR_FETCH_CRON",
}
DUCKDB_PATH_ENV = "MIRROR_DUCKDB_PATH"  # written for dbt (profiles.yml), never read here
REFERENCE_DIR_ENV = "MIRROR_REFERENCE_DIR"  # idem

_MEMORY_LIMIT = re.compile(r"^\s*\d+(\.\d+)?\s*(%|(k|m|g|t)i?b|bytes)\s*$", re.IGNORECASE)
_URL = re.compile(r"^https?://[^\s/?#]+(:\d+)?(/[^\s]*)?$", re.IGNORECASE)
_APPRISE_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)


class SettingsError(ValueError):
    """A setting is missing or unusable; the message says which and why (one line each)."""


@dataclass(frozen=True)
class HomeLayout:
    """Every path under ``$MIRROR_HOME``, defined once."""

    home: Path

    ALERTS_LOG: ClassVar[str] = "alerts.jsonl"
    ALERTS_STATE: ClassVar[str] = "alerts_state.json"
    WAREHOUSE_FILE: ClassVar[str] = "mirror.duckdb"

    @classmethod
    def of_warehouse(cls, duckdb_path: str | Path) -> HomeLayout:
        """The layout of the home whose working warehouse is ``duckdb_path``."""
        return cls(Path(duckdb_path).parent)

    @property
    def duckdb_path(self) -> Path:
        """The working warehouse: only the pipeline run that owns it may open it."""
        return self.home / self.WAREHOUSE_FILE

    @property
    def published_dir(self) -> Path:
        return self.home / "published"

    @property
    def published_duckdb_path(self) -> Path:
        """The read-only copy BI tools open; replaced atomically after checks pass."""
        return self.published_dir / self.WAREHOUSE_FILE

    @property
    def published_inputs_path(self) -> Path:
        """The fingerprint of what the current publication was built from (build_state.py)."""
        return self.published_dir / "build_inputs.json"

    @property
    def exports_dir(self) -> Path:
        """A link to ``exports.versions/<publication id>/`` (see ``publish/snapshot.py``)."""
        return self.home / "exports"

    @property
    def gx_docs_dir(self) -> Path:
        """Great Expectations Data Docs and the checks' results file."""
        return self.home / "docs" / "gx"

    @property
    def dbt_docs_dir(self) -> Path:
        return self.home / "docs" / "dbt"

    @property
    def report_path(self) -> Path:
        return self.home / "report" / "index.html"

    @property
    def logs_dir(self) -> Path:
        """One log per CLI run (``run-*.log``) and ``last_run.log``."""
        return self.home / "logs"

    def dbt_target_dir(self, command: str) -> Path:
        """dbt's target folder of a run's ``dbt <command>``, replaced by the next run."""
        return self.home / "dbt" / command

    @property
    def spark_dir(self) -> Path:
        """A Spark target's files: ``raw/`` (the typed raw tables as Parquet, which dbt
        registers as Spark tables), ``out/`` (the marts and report tables Spark wrote, loaded
        back into the working warehouse), ``warehouse/`` and ``metastore/`` (Spark's own
        tables and the local Derby metastore of ``spark_local``)."""
        return self.home / "spark"

    @property
    def dagster_home(self) -> Path:
        """Dagster's run history when ``DAGSTER_HOME`` is not set."""
        return self.home / "dagster"

    @property
    def alerts_log(self) -> Path:
        """The alerts' audit trail (redacted), one JSON object per line."""
        return self.home / self.ALERTS_LOG

    @property
    def alerts_state(self) -> Path:
        """Which breaches were announced (de-duplication)."""
        return self.home / self.ALERTS_STATE

    @property
    def comtrade_fetch_state(self) -> Path:
        """What the scheduled Comtrade fetch has already downloaded."""
        return self.home / "state" / "comtrade_fetch.json"


def _blank_to_default(value: Any, default: Any) -> Any:
    return default if value is None or (isinstance(value, str) and not value.strip()) else value


class Location(BaseModel):
    """Where a run reads (``MIRROR_LANDING``) and writes (``MIRROR_HOME``): checked first, on
    its own, since a refused run still reports itself under its home."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # MIRROR_* variable of each field; the order is the order of the error lines
    VARIABLES: ClassVar[dict[str, str]] = {"home": HOME_ENV, "landing": LANDING_ENV}

    home: Path
    landing: Path = SAMPLE_LANDING

    @field_validator("home", mode="before")
    @classmethod
    def _home(cls, value: Any) -> Path:
        path = Path(_blank_to_default(value, DEFAULT_HOME)).expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise ValueError(f"{HOME_ENV}={path} exists and is not a folder")
        return path

    @field_validator("landing", mode="before")
    @classmethod
    def _landing(cls, value: Any) -> Path:
        path = Path(_blank_to_default(value, SAMPLE_LANDING)).expanduser().resolve()
        if not path.is_dir():
            raise ValueError(
                f"{LANDING_ENV}={path} is not a folder; point it at a folder laid out "
                "by source (comtrade/, ...) or unset it to use the embedded sample"
            )
        return path

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(self.home)

    @property
    def duckdb_path(self) -> Path:
        return self.layout.duckdb_path

    @classmethod
    def from_env(
        cls,
        home: str | Path | None = None,
        landing: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Self:
        """Resolve the settings: explicit arguments win over the environment, then defaults.
        Raises one :class:`SettingsError` with a line per bad setting."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            field: env.get(variable) for field, variable in cls.VARIABLES.items()
        }
        values["home"] = home or values["home"]
        values["landing"] = landing or values["landing"]
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError("\n".join(error_lines(exc, cls.VARIABLES))) from None


class Settings(Location):
    """Every setting, typed and validated; built by :meth:`from_env` (or directly, in tests).

    A bad value fails with one line naming the variable, what is wrong and an example.
    """

    VARIABLES: ClassVar[dict[str, str]] = {
        **Location.VARIABLES,
        "duckdb_memory_limit": MEMORY_LIMIT_ENV,
        "ingest_batch_mb": INGEST_BATCH_ENV,
        "run_lock_wait_seconds": RUN_LOCK_WAIT_ENV,
        "ui_url": UI_URL_ENV,
        "alert_urls": ALERT_URLS_ENV,
        "dbt_target": DBT_TARGET_ENV,
    }

    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    ingest_batch_mb: float = DEFAULT_INGEST_BATCH_MB
    run_lock_wait_seconds: float = DEFAULT_RUN_LOCK_WAIT_SECONDS
    ui_url: str | None = None
    alert_urls: tuple[str, ...] = Field(default=(), repr=False)  # secrets
    dbt_target: str = DEFAULT_DBT_TARGET

    @field_validator("duckdb_memory_limit", mode="before")
    @classmethod
    def _memory_limit(cls, value: Any) -> str:
        return parse_memory_limit(value)

    @field_validator("ingest_batch_mb", mode="before")
    @classmethod
    def _batch_mb(cls, value: Any) -> float:
        raw = _blank_to_default(value, DEFAULT_INGEST_BATCH_MB)
        megabytes = _non_negative(raw)
        if megabytes is None:
            raise ValueError(
                f"{INGEST_BATCH_ENV}={str(raw).strip()!r} is not a size in MB; use a number "
                f">= 0 (default {DEFAULT_INGEST_BATCH_MB}; 0 loads one file at a time)"
            )
        return megabytes

    @field_validator("run_lock_wait_seconds", mode="before")
    @classmethod
    def _lock_wait(cls, value: Any) -> float:
        raw = _blank_to_default(value, DEFAULT_RUN_LOCK_WAIT_SECONDS)
        seconds = _non_negative(raw)
        if seconds is None:
            raise ValueError(
                f"{RUN_LOCK_WAIT_ENV}={str(raw).strip()!r} is not a number of seconds >= 0 "
                f"(default {DEFAULT_RUN_LOCK_WAIT_SECONDS:.0f}; 0 fails at once if another run "
                "holds the warehouse)"
            )
        return seconds

    @field_validator("ui_url", mode="before")
    @classmethod
    def _ui_url(cls, value: Any) -> str | None:
        return parse_ui_url(value)

    @field_validator("alert_urls", mode="before")
    @classmethod
    def _alert_urls(cls, value: Any) -> tuple[str, ...]:
        return parse_alert_urls(value)

    @field_validator("dbt_target", mode="before")
    @classmethod
    def _dbt_target(cls, value: Any) -> str:
        return parse_dbt_target(value)

    @classmethod
    def from_env(
        cls,
        home: str | Path | None = None,
        landing: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Self:
        """:meth:`Location.from_env`, then what a Spark target needs besides its name (the
        spark group, java, the master or remote URL), read from the same environment."""
        settings = super().from_env(home, landing, environ)
        problem = spark_runtime_problem(settings.dbt_target, environ)
        if problem:
            raise SettingsError(problem)
        return settings

    @property
    def uses_spark(self) -> bool:
        return self.dbt_target in SPARK_TARGETS

    @property
    def ingest_batch_bytes(self) -> int:
        """``MIRROR_INGEST_BATCH_MB`` in bytes (0 = no batching)."""
        return int(self.ingest_batch_mb * MEGABYTE)

    def export_to_environ(self) -> None:
        """Make the settings visible to child processes (dbt reads MIRROR_DUCKDB_PATH and
        MIRROR_DUCKDB_MEMORY_LIMIT in ``profiles.yml``)."""
        os.environ[HOME_ENV] = str(self.home)
        os.environ[LANDING_ENV] = str(self.landing)
        os.environ[DUCKDB_PATH_ENV] = str(self.duckdb_path)
        os.environ[MEMORY_LIMIT_ENV] = self.duckdb_memory_limit
        os.environ[REFERENCE_DIR_ENV] = str(REFERENCE_DIR)
        os.environ[DBT_TARGET_ENV] = self.dbt_target
        os.environ[SPARK_DIR_ENV] = str(self.layout.spark_dir)
        # dbt's own log ($MIRROR_HOME/dbt/<command>/dbt.log) at info, not dbt's default debug:
        # debug writes every statement of every node (5 MB for the sample) and cost 1.3 s of
        # a 17 s build of it. DBT_LOG_LEVEL_FILE=debug brings the statements back.
        os.environ.setdefault("DBT_LOG_LEVEL_FILE", "info")
        if self.dbt_target == "spark_local":
            # Spark binds to the address of the host name otherwise (a LAN address, or none
            # in a sandbox): the local driver talks to itself only
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def _non_negative(raw: Any) -> float | None:
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def parse_alert_urls(value: Any) -> tuple[str, ...]:
    """``MIRROR_ALERT_URLS``: comma-separated Apprise URLs (never echoed: they hold secrets)."""
    if isinstance(value, list | tuple):
        urls = [str(u).strip() for u in value if str(u).strip()]
    else:
        urls = [u.strip() for u in str(value or "").split(",") if u.strip()]
    bad = [str(i) for i, url in enumerate(urls, start=1) if not _APPRISE_URL.match(url)]
    if bad:
        raise ValueError(
            f"{ALERT_URLS_ENV}: entr{'y' if len(bad) == 1 else 'ies'} {', '.join(bad)} of "
            f"{len(urls)} {'is' if len(bad) == 1 else 'are'} not an Apprise URL "
            "(scheme://…, e.g. slack://…, json://host:port/path); the value is not shown, it "
            "may hold a secret"
        )
    return tuple(urls)


def error_lines(exc: ValidationError, variables: Mapping[str, str]) -> list[str]:
    """One line per invalid field: the validator's own message (it names the variable), or
    pydantic's prefixed with the variable."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ValueError):
            lines.append(str(cause))
        else:
            lines.append(f"{variables.get(field, field)}: {error['msg']}")
    return lines


def parse_memory_limit(value: Any) -> str:
    """``MIRROR_DUCKDB_MEMORY_LIMIT`` as DuckDB's ``memory_limit`` (``80%``, ``1GB``, ...)."""
    text = str(_blank_to_default(value, DEFAULT_DUCKDB_MEMORY_LIMIT)).strip()
    if not _MEMORY_LIMIT.match(text):
        raise ValueError(
            f"{MEMORY_LIMIT_ENV}={text!r} is not a memory size; use e.g. 1GB, "
            f"512MiB or 50% (default {DEFAULT_DUCKDB_MEMORY_LIMIT})"
        )
    return text


def parse_dbt_target(value: Any) -> str:
    """``MIRROR_DBT_TARGET``: one of the targets of ``dbt/profiles.yml``."""
    target = str(_blank_to_default(value, DEFAULT_DBT_TARGET)).strip()
    if target not in DBT_TARGETS:
        raise ValueError(
            f"{DBT_TARGET_ENV}={target!r} is not a target of dbt/profiles.yml; use one of "
            f"{', '.join(DBT_TARGETS)} (default {DEFAULT_DBT_TARGET}; docs/spark.md)"
        )
    return target


def java_executable(environ: Mapping[str, str] | None = None) -> str | None:
    """The ``java`` pyspark would start: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    env = os.environ if environ is None else environ
    java_home = (env.get("JAVA_HOME") or "").strip()
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        return str(candidate) if candidate.is_file() else None
    return shutil.which("java")


def spark_runtime_problem(target: str, environ: Mapping[str, str] | None = None) -> str | None:
    """What a Spark target lacks to run, in one line saying what to do (None: nothing).

    Checked with the settings, before any step: without it the run would ingest, export the
    raw tables and only then fail inside dbt with an ImportError or "JAVA_GATEWAY_EXITED"."""
    if target not in SPARK_TARGETS:
        return None
    env = os.environ if environ is None else environ
    prefix = f"{DBT_TARGET_ENV}={target}"
    if importlib.util.find_spec("pyspark") is None or (
        importlib.util.find_spec("dbt.adapters.spark") is None
    ):
        return (
            f"{prefix} needs pyspark and dbt-spark: install the spark group: uv sync --group spark"
        )
    needs = SPARK_TARGETS[target]
    if needs and not (env.get(needs) or "").strip():
        example = "sc://host:15002" if needs == SPARK_REMOTE_ENV else "spark://host:7077"
        return f"{prefix} needs {needs} (e.g. {example}; docs/spark.md)"
    if target != "spark_connect" and java_executable(env) is None:
        # spark_connect's client is pure Python; the others start a JVM (the driver)
        where = (
            "JAVA_HOME has no bin/java"
            if (env.get("JAVA_HOME") or "").strip()
            else ("no java on PATH")
        )
        return (
            f"{prefix} needs a Java runtime and {where}: install a JDK 17 "
            "(apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    return None


def dbt_target_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The dbt target alone (the dbt project is loaded before the whole Settings)."""
    return _one_from_env(parse_dbt_target, DBT_TARGET_ENV, environ)


def parse_ui_url(value: Any) -> str | None:
    """``MIRROR_UI_URL`` without a trailing slash, or None."""
    raw = str(_blank_to_default(value, "")).strip()
    if not raw:
        return None
    if not _URL.match(raw):
        raise ValueError(
            f"{UI_URL_ENV}={raw!r} is not an http(s) URL; set it to where `dagster dev` (or "
            "dagster-webserver) serves this MIRROR_HOME, e.g. http://mirror.example.org:3000"
        )
    return raw.rstrip("/")


# One variable read alone, for code that runs without a whole Settings: the CLI reporting a
# refused start (the channels may be fine while another setting is not), connections opened
# outside the resources (`mirror report`, GX's read-only session). Same parsing and messages
# as the Settings fields.


def _one_from_env(parse: Any, variable: str, environ: Mapping[str, str] | None) -> Any:
    env = os.environ if environ is None else environ
    try:
        return parse(env.get(variable))
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def alert_urls_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The alert channels (a run refused for another bad setting still reports to them)."""
    return _one_from_env(parse_alert_urls, ALERT_URLS_ENV, environ)


def memory_limit_from_env(environ: Mapping[str, str] | None = None) -> str:
    return _one_from_env(parse_memory_limit, MEMORY_LIMIT_ENV, environ)


def comtrade_base_url_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """``MIRROR_COMTRADE_BASE_URL`` (None: the real Comtrade host)."""
    return _text_from_env(COMTRADE_BASE_URL_ENV, environ)


def landing_set_in_env(environ: Mapping[str, str] | None = None) -> str | None:
    """``MIRROR_LANDING`` only when it is set: ``mirror fetch`` writes into a landing someone
    chose, never into the embedded sample the pipeline defaults to."""
    return _text_from_env(LANDING_ENV, environ)


@dataclass(frozen=True)
class FetchVariables:
    """The scheduled Comtrade fetch's ``MIRROR_FETCH_*`` as written (None: unset or blank);
    ``sources/comtrade_schedule.py`` turns them into reporters, HS codes, frequencies and
    years with the Comtrade client's own parsers, and says there what is wrong."""

    reporters: str | None = None
    hs: str | None = None
    freq: str | None = None
    years: str | None = None
    cron: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FetchVariables:
        return cls(**{field: _text_from_env(name, environ) for field, name in FETCH_ENV.items()})


def _text_from_env(variable: str, environ: Mapping[str, str] | None) -> str | None:
    env = os.environ if environ is None else environ
    return (env.get(variable) or "").strip() or None
