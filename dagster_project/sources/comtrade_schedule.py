"""A Dagster schedule that fetches newly released Comtrade data, then asks for a build.

OFF by default (``DefaultScheduleStatus.STOPPED``): switch it on in the Dagster UI
(Automation -> comtrade_fetch_schedule) or with ``dagster schedule start``. On each tick:

1. without ``COMTRADE_API_KEY`` it skips (the availability endpoint and 250k-row fetches
   need a key);
2. it asks Comtrade's data-availability endpoint (``comtradeapicall.getFinalDataAvailability``)
   which datasets (reporter, period, freq) exist, with ``lastReleased`` and
   ``datasetChecksum``;
3. datasets whose checksum differs from the one recorded at the last fetch are fetched
   (``mirror fetch comtrade`` logic, :func:`comtrade_api.fetch_final_data`) into
   ``$MIRROR_LANDING/comtrade/``, named with their release date;
4. it records what was fetched (checksums, release dates) in
   ``$MIRROR_HOME/state/comtrade_fetch.json`` and returns a RunRequest for ``mirror_build``
   (SkipReason with the reason when nothing is new).

Configuration (environment):
  COMTRADE_API_KEY        subscription key (required; never logged)
  MIRROR_FETCH_REPORTERS  reporters, ISO-2/ISO-3/Comtrade codes (default KZ,IT,AT,DE,CZ)
  MIRROR_FETCH_HS         HS codes (default 2709,2710)
  MIRROR_FETCH_FREQ       A, M or A,M (default A,M)
  MIRROR_FETCH_YEARS      years (default: the last 5 calendar years up to this one)
  MIRROR_FETCH_CRON       cron of the ticks (default "0 6 * * *", daily 06:00 UTC)
  MIRROR_HOME / MIRROR_LANDING  as for `mirror run`; the landing must not be the sample
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_project.jobs import MIRROR_JOB_NAME, planned_run_tags
from dagster_project.settings import (
    FETCH_ENV,
    SAMPLE_LANDING,
    FetchVariables,
    HomeLayout,
    Location,
)
from dagster_project.sources import comtrade, comtrade_api
from dagster_project.sources.comtrade_api import (
    ComtradeError,
    FetchRequest,
    Reporter,
    call_with_retries,
    comtrade_transport,
    redact,
)

JOB_NAME = MIRROR_JOB_NAME
DEFAULT_REPORTERS = "KZ,IT,AT,DE,CZ"
DEFAULT_HS = "2709,2710"
DEFAULT_FREQ = "A,M"
DEFAULT_CRON = "0 6 * * *"


@dataclass(frozen=True)
class FetchConfig:
    reporters: tuple[Reporter, ...]
    hs_codes: tuple[str, ...]
    freqs: tuple[str, ...]
    years: tuple[int, ...]

    @classmethod
    def from_env(cls, env: Mapping[str, str], today: dt.date) -> FetchConfig:
        raw = FetchVariables.from_env(env)
        freqs = tuple(f.strip().upper() for f in (raw.freq or DEFAULT_FREQ).split(","))
        if not freqs or any(f not in ("A", "M") for f in freqs):
            raise ValueError(f"{FETCH_ENV['freq']} must be A, M or A,M")
        return cls(
            reporters=tuple(
                comtrade_api.resolve_reporters((raw.reporters or DEFAULT_REPORTERS).split(","))
            ),
            hs_codes=tuple(comtrade_api.parse_hs(raw.hs or DEFAULT_HS)),
            freqs=freqs,
            years=tuple(comtrade_api.parse_years(raw.years or f"{today.year - 4}-{today.year}")),
        )


@dataclass(frozen=True)
class Dataset:
    """One availability row: a reporter's data for one period, as Comtrade last released it."""

    freq: str
    reporter_code: int
    period: str
    checksum: str
    last_released: str  # ISO timestamp as delivered

    @property
    def key(self) -> str:
        return f"{self.freq}|{self.reporter_code}|{self.period}"

    @property
    def release_date(self) -> dt.date | None:
        try:
            return dt.date.fromisoformat(self.last_released[:10])
        except ValueError:
            return None


# State ---------------------------------------------------------------------------------------


def state_path(home: Path) -> Path:
    return HomeLayout(home).comtrade_fetch_state


def load_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"datasets": {}}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"datasets": {}}  # a broken state file means "fetch again", never a crash
    if not isinstance(state, dict) or not isinstance(state.get("datasets"), dict):
        return {"datasets": {}}
    return state


def save_state(path: Path, state: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


# Availability --------------------------------------------------------------------------------


def fetch_availability(
    config: FetchConfig,
    api_key: str,
    *,
    base_url: str | None = None,
    sleep: Callable[[float], None] | None = None,
) -> list[Dataset]:
    """Availability rows of the configured reporters and years (all freqs configured)."""
    import comtradeapicall

    comtrade_api.register_secret(api_key)
    wanted_years = {str(y) for y in config.years}
    datasets: list[Dataset] = []
    kwargs: dict[str, Any] = {"sleep": sleep} if sleep else {}
    with comtrade_transport(base_url):
        for freq in config.freqs:
            reporters = ",".join(str(r.code) for r in config.reporters)
            frame = call_with_retries(
                lambda freq=freq, reporters=reporters: comtradeapicall.getFinalDataAvailability(
                    api_key, "C", freq, "HS", None, reporters
                ),
                what=f"data availability {freq}",
                **kwargs,
            )
            records = [] if frame is None else frame.to_dict(orient="records")
            for rec in records:
                period = str(rec.get("period") or "")
                if period[:4] not in wanted_years:
                    continue
                datasets.append(
                    Dataset(
                        freq=str(rec.get("freqCode") or freq),
                        reporter_code=int(rec["reporterCode"]),
                        period=period,
                        checksum=str(rec.get("datasetChecksum")),
                        last_released=str(rec.get("lastReleased") or ""),
                    )
                )
    return datasets


def new_datasets(datasets: list[Dataset], state: Mapping[str, Any]) -> list[Dataset]:
    """Datasets never fetched, or whose checksum changed since the last fetch."""
    known = state.get("datasets", {})
    return [d for d in datasets if known.get(d.key, {}).get("checksum") != d.checksum]


# The decision --------------------------------------------------------------------------------


def evaluate(
    env: Mapping[str, str] | None = None,
    *,
    now: dt.datetime | None = None,
    base_url: str | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dg.RunRequest | dg.SkipReason:
    """One tick: fetch what is new and request a build, or say why not (see module doc)."""
    env = os.environ if env is None else env
    now = now or dt.datetime.now(dt.UTC)
    api_key = (env.get(comtrade_api.API_KEY_ENV) or "").strip()
    if not api_key:
        return dg.SkipReason(
            f"{comtrade_api.API_KEY_ENV} is not set: the scheduled Comtrade fetch needs a key"
        )
    comtrade_api.register_secret(api_key)
    try:
        config = FetchConfig.from_env(env, now.date())
        settings = Location.from_env(environ=env)
    except ValueError as exc:
        return dg.SkipReason(f"bad fetch configuration: {exc}")
    if settings.landing.resolve() == SAMPLE_LANDING.resolve():
        return dg.SkipReason("MIRROR_LANDING is not set: refusing to fetch into the sample")
    path = state_path(settings.home)
    state = load_state(path)
    try:
        available = fetch_availability(config, api_key, base_url=base_url, sleep=sleep)
        fresh = new_datasets(available, state)
        if not fresh:
            return dg.SkipReason(
                f"nothing new: {len(available)} Comtrade dataset(s) unchanged since the last fetch"
            )
        files = _fetch(config, fresh, api_key, settings.landing, base_url, sleep)
    except ComtradeError as exc:
        return dg.SkipReason(f"Comtrade fetch failed: {redact(exc)}")
    for d in fresh:
        state["datasets"][d.key] = {
            "checksum": d.checksum,
            "last_released": d.last_released,
            "fetched_at": now.isoformat(timespec="seconds"),
        }
    state["last_fetch"] = now.isoformat(timespec="seconds")
    save_state(path, state)
    fingerprint = ",".join(sorted(f"{d.key}={d.checksum}" for d in fresh))
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:12]
    return dg.RunRequest(
        run_key=f"comtrade-{digest}",
        job_name=JOB_NAME,
        tags={
            "mirror/trigger": "comtrade_fetch_schedule",
            "mirror/comtrade_datasets": str(len(fresh)),
            "mirror/comtrade_files": str(len(files)),
        },
    )


def _fetch(
    config: FetchConfig,
    fresh: list[Dataset],
    api_key: str,
    landing: Path,
    base_url: str | None,
    sleep: Callable[[float], None] | None,
) -> list[Path]:
    by_code = {r.code: r for r in config.reporters}
    groups: dict[tuple[str, int, dt.date | None], list[str]] = defaultdict(list)
    for d in fresh:
        groups[(d.freq, d.reporter_code, d.release_date)].append(d.period)
    files: list[Path] = []
    kwargs: dict[str, Any] = {"sleep": sleep} if sleep else {}
    for (freq, code, released), periods in sorted(groups.items(), key=str):
        reporter = by_code.get(code, Reporter(code, str(code)))
        request = FetchRequest((reporter,), config.hs_codes, tuple(sorted(periods)), freq)
        result = comtrade_api.fetch_final_data(
            request,
            landing,
            api_key=api_key,
            base_url=base_url,
            release_date=released,
            progress=False,
            **kwargs,
        )
        files.extend(result.files)
    return files


@dg.schedule(
    name="comtrade_fetch_schedule",
    cron_schedule=FetchVariables.from_env().cron or DEFAULT_CRON,
    job_name=JOB_NAME,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    execution_timezone="UTC",
    description=(
        "OFF by default. Asks Comtrade which periods were released since the last fetch "
        "(COMTRADE_API_KEY; MIRROR_FETCH_REPORTERS, MIRROR_FETCH_HS, MIRROR_FETCH_FREQ, "
        "MIRROR_FETCH_YEARS), fetches only those into MIRROR_LANDING/comtrade/ and requests "
        "a mirror_build run; state in MIRROR_HOME/state/comtrade_fetch.json."
    ),
)
def comtrade_fetch_schedule(context: dg.ScheduleEvaluationContext):
    decision = evaluate()
    if isinstance(decision, dg.SkipReason):
        context.log.info(redact(decision.skip_message))
        return decision
    # a build over every period partition (transform/partitions.py); before any partition
    # exists, only the ingest of what was fetched (the landing sensor or `mirror run` builds)
    tags = planned_run_tags(context.instance)
    if tags is None:
        raw_table = comtrade.SPEC.raw_table.split(".")
        return decision.with_replaced_attrs(asset_selection=[dg.AssetKey(raw_table)])
    return decision.with_replaced_attrs(tags={**decision.tags, **tags})
