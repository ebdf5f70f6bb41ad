"""Suites in ``expectations/*.yml``: parsed, validated, turned into GX expectations.

Pure functions (no GX import at module load, no database) so they are unit-tested on their own.
Waiver values are validated against strict patterns before they reach SQL; identifiers
(schema, table) against an allow-list pattern.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SEVERITIES = ("error", "warn")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_PATTERNS = {
    "exporter_iso3": re.compile(r"^[A-Z_][A-Z0-9_]{1,3}$"),
    "importer_iso3": re.compile(r"^[A-Z_][A-Z0-9_]{1,3}$"),
    "hs6": re.compile(r"^\d{6}$"),
    "freq": re.compile(r"^[AM]$"),
    "period_from": re.compile(r"^\d{4}(\d{2})?$"),
    "period_to": re.compile(r"^\d{4}(\d{2})?$"),
}
_WAIVER_MATCH_FIELDS = ("exporter_iso3", "importer_iso3", "hs6", "freq")


class SuiteError(ValueError):
    """A suite file is invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class Waiver:
    id: str
    exporter_iso3: str
    importer_iso3: str
    hs6: str
    reason: str
    expires: dt.date
    freq: str | None = None
    period_from: str | None = None
    period_to: str | None = None
    owner: str | None = None

    def is_active(self, today: dt.date) -> bool:
        return self.expires >= today

    def sql_condition(self, alias: str = "") -> str:
        """SQL predicate matching this waiver's rows (values are pattern-validated literals)."""
        prefix = f"{alias}." if alias else ""
        parts = [
            f"{prefix}{name} = '{getattr(self, name)}'"
            for name in _WAIVER_MATCH_FIELDS
            if getattr(self, name) is not None
        ]
        if self.period_from:
            parts.append(f"{prefix}period >= '{self.period_from}'")
        if self.period_to:
            parts.append(f"{prefix}period <= '{self.period_to}'")
        return "(" + " and ".join(parts) + ")"


@dataclass(frozen=True)
class ExpectationSpec:
    type: str
    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    query: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    schema: str
    table: str
    severity: str
    description: str
    expectations: tuple[ExpectationSpec, ...]
    waivers: tuple[Waiver, ...]
    path: Path

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    def active_waivers(self, today: dt.date) -> list[Waiver]:
        return [w for w in self.waivers if w.is_active(today)]

    def expired_waivers(self, today: dt.date) -> list[Waiver]:
        return [w for w in self.waivers if not w.is_active(today)]

    def waived_sql(self, today: dt.date, alias: str = "") -> str:
        """Boolean SQL: the row is covered by an unexpired waiver."""
        active = self.active_waivers(today)
        if not active:
            return "false"
        return "(" + " or ".join(w.sql_condition(alias) for w in active) + ")"

    def render_query(self, query: str, today: dt.date) -> str:
        return query.replace("{waived}", self.waived_sql(today))


def _parse_waiver(raw: dict[str, Any], where: str) -> Waiver:
    if not isinstance(raw, dict):
        raise SuiteError(f"{where}: a waiver must be a mapping")
    required = ("id", "exporter_iso3", "importer_iso3", "hs6", "reason", "expires")
    missing = [k for k in required if not raw.get(k)]
    if missing:
        raise SuiteError(f"{where}: waiver is missing {', '.join(missing)} (all are required)")
    values = {k: (str(v) if v is not None else None) for k, v in raw.items()}
    for name, pattern in _PATTERNS.items():
        value = values.get(name)
        if value is not None and not pattern.match(value):
            raise SuiteError(f"{where}: waiver {values['id']!r} has invalid {name} {value!r}")
    expires = raw["expires"]
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError as exc:
            raise SuiteError(
                f"{where}: waiver {values['id']!r} expires {expires!r} is not YYYY-MM-DD"
            ) from exc
    if not isinstance(expires, dt.date):
        raise SuiteError(f"{where}: waiver {values['id']!r} needs an expiry date (YYYY-MM-DD)")
    unknown = set(raw) - {*required, "freq", "period_from", "period_to", "owner"}
    if unknown:
        raise SuiteError(f"{where}: waiver {values['id']!r} has unknown key(s) {sorted(unknown)}")
    return Waiver(
        id=values["id"] or "",
        exporter_iso3=values["exporter_iso3"] or "",
        importer_iso3=values["importer_iso3"] or "",
        hs6=values["hs6"] or "",
        reason=" ".join((values["reason"] or "").split()),
        expires=expires,
        freq=values.get("freq"),
        period_from=values.get("period_from"),
        period_to=values.get("period_to"),
        owner=values.get("owner"),
    )


def _parse_expectation(raw: dict[str, Any], where: str, index: int) -> ExpectationSpec:
    if not isinstance(raw, dict) or "type" not in raw:
        raise SuiteError(f"{where}: expectation #{index + 1} needs a 'type'")
    kind = str(raw["type"])
    kwargs = dict(raw.get("kwargs") or {})
    if kind == "unexpected_rows":
        if not raw.get("query") or "{batch}" not in raw["query"]:
            raise SuiteError(f"{where}: unexpected_rows #{index + 1} needs a query using {{batch}}")
        name = str(raw.get("name") or f"unexpected_rows_{index + 1}")
    else:
        column = kwargs.get("column") or ",".join(kwargs.get("column_list") or [])
        name = str(raw.get("name") or (f"{kind}:{column}" if column else kind))
    return ExpectationSpec(
        type=kind,
        name=name,
        kwargs=kwargs,
        description=" ".join(str(raw["description"]).split()) if raw.get("description") else None,
        query=" ".join(str(raw["query"]).split()) if raw.get("query") else None,
        meta=dict(raw.get("meta") or {}),
    )


def load_suite(path: Path) -> Suite:
    """Parse and validate one suite file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path.name}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SuiteError(f"{path.name}: expected a mapping at the top level")
    where = path.name
    for key in ("suite", "schema", "table"):
        if not isinstance(raw.get(key), str) or not _IDENT.match(raw[key]):
            raise SuiteError(
                f"{where}: '{key}' must be a lower-case identifier, got {raw.get(key)!r}"
            )
    severity = raw.get("severity", "error")
    if severity not in SEVERITIES:
        raise SuiteError(f"{where}: severity must be one of {SEVERITIES}, got {severity!r}")
    expectations = tuple(
        _parse_expectation(e, where, i) for i, e in enumerate(raw.get("expectations") or [])
    )
    if not expectations:
        raise SuiteError(f"{where}: no expectations")
    names = [e.name for e in expectations]
    if len(set(names)) != len(names):
        raise SuiteError(f"{where}: expectation names must be unique")
    waivers = tuple(_parse_waiver(w, where) for w in (raw.get("waivers") or []))
    ids = [w.id for w in waivers]
    if len(set(ids)) != len(ids):
        raise SuiteError(f"{where}: waiver ids must be unique")
    return Suite(
        name=raw["suite"],
        schema=raw["schema"],
        table=raw["table"],
        severity=severity,
        description=" ".join(str(raw.get("description", "")).split()),
        expectations=expectations,
        waivers=waivers,
        path=path,
    )


def load_suites(folder: Path) -> list[Suite]:
    """Every ``*.yml`` suite in ``folder``, sorted by file name."""
    return [load_suite(p) for p in sorted(folder.glob("*.yml"))]


def to_gx_expectation(spec: ExpectationSpec, suite: Suite, today: dt.date) -> Any:
    """Build the GX expectation object for ``spec`` (imports GX: call at check time only)."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    meta = {"name": spec.name, **spec.meta}
    if spec.type == "unexpected_rows":
        return gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=suite.render_query(spec.query or "", today),
            description=spec.description,
            meta=meta,
        )
    try:
        config = ExpectationConfiguration(type=spec.type, kwargs=spec.kwargs, meta=meta)
        return config.to_domain_obj()
    except Exception as exc:
        raise SuiteError(
            f"{suite.path.name}: expectation {spec.name!r} ({spec.type}) is not usable: {exc}"
        ) from exc
