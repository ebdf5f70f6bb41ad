"""Suites in ``expectations/*.yml``: parsed, validated, turned into GX expectations.

Pure functions (no GX import at module load, no database) so they are unit-tested on their own.
Every value that reaches SQL (waivers, tolerance rules, corridors, statuses, parameters) is
validated against a strict pattern first; identifiers (schema, table) against an allow-list.

Files in ``expectations/``:

``statuses.yml``  the status vocabulary of the mirror mart and how the checks treat each status
                  (``compared`` / ``explained`` / ``not_compared``). New statuses are data.
``*.yml``         one suite each (a ``suite:`` key). A suite may carry ``tolerances`` (rules by
                  HS chapter / HS6 / exporter / importer / corridor with ``tolerance_pct`` and
                  ``severity``), ``corridors`` and ``waivers`` (reason + expiry).

Query placeholders (``unexpected_rows``): ``{batch}`` the table (GX fills it in), ``{flows}``
the table with, per row, ``check_tolerance_pct``, ``check_ceiling_pct``, ``check_severity``,
``tolerance_rule``, ``is_waived``, ``is_compared``, ``is_explained`` and ``is_breach``;
``{waived}`` true for a row covered by an unexpired waiver; ``{statuses}``,
``{compared_statuses}`` (compared + explained), ``{explained_statuses}``,
``{unexplained_compared_statuses}`` (class compared only): quoted status lists;
``{schema}`` the suite's schema; ``{param:NAME}`` a number from the suite's ``parameters``.

Descriptions (the text of alerts, Data Docs and ``mirror checks``) take ``{param:NAME}`` and
``{hard_ceiling_pct}`` too, filled with their values when the suite is loaded: a reader sees
"the last 2 years", not a parameter's name.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

SEVERITIES = ("error", "warn")
STATUS_CLASSES = ("compared", "explained", "not_compared")
VOCABULARY_FILE = "statuses.yml"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_ISO3 = re.compile(r"^[A-Z_][A-Z0-9_]{1,3}$")
_PATTERNS = {
    "exporter_iso3": _ISO3,
    "importer_iso3": _ISO3,
    "hs6": re.compile(r"^\d{6}$"),
    "freq": re.compile(r"^[AM]$"),
    "period_from": re.compile(r"^\d{4}(\d{2})?$"),
    "period_to": re.compile(r"^\d{4}(\d{2})?$"),
}
_WAIVER_MATCH_FIELDS = ("exporter_iso3", "importer_iso3", "hs6", "freq")
_RULE_PATTERNS = {
    "hs_chapter": re.compile(r"^\d{2}$"),
    "hs6": re.compile(r"^\d{6}$"),
    "exporter": _ISO3,
    "importer": _ISO3,
    "corridor": _ID,
    "freq": re.compile(r"^[AM]$"),
}
# How much a match key narrows a rule: the most specific matching rule wins.
_SPECIFICITY = {"corridor": 8, "exporter": 4, "importer": 4, "hs6": 3, "hs_chapter": 2, "freq": 1}
_PARAM_RE = re.compile(r"\{param:([a-z_][a-z0-9_]*)\}")


class SuiteError(ValueError):
    """A suite file is invalid; the message names the file and the entry."""


def _q(value: str) -> str:
    """A SQL string literal of a value already validated against a strict pattern."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class StatusVocabulary:
    """Every accepted ``status`` and how the checks treat it."""

    classes: dict[str, str]  # status -> compared | explained | not_compared
    meanings: dict[str, str] = field(default_factory=dict)

    @property
    def statuses(self) -> list[str]:
        return list(self.classes)

    def of_class(self, *classes: str) -> list[str]:
        return [s for s, c in self.classes.items() if c in classes]

    @staticmethod
    def sql_list(values: list[str]) -> str:
        return ", ".join(_q(v) for v in values) if values else "null"


DEFAULT_VOCABULARY = StatusVocabulary(
    classes={
        "ok": "compared",
        "breach": "compared",
        "below_threshold": "not_compared",
        "unallocated": "not_compared",
    }
)


def load_vocabulary(path: Path) -> StatusVocabulary:
    if not path.exists():
        return DEFAULT_VOCABULARY
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path.name}: not valid YAML: {exc}") from exc
    entries = raw.get("statuses") if isinstance(raw, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise SuiteError(f"{path.name}: needs a 'statuses' mapping (status: {{class: ...}})")
    classes: dict[str, str] = {}
    meanings: dict[str, str] = {}
    for status, spec in entries.items():
        if not isinstance(status, str) or not _IDENT.match(status):
            raise SuiteError(f"{path.name}: status {status!r} must be a lower-case identifier")
        spec = spec if isinstance(spec, dict) else {}
        klass = spec.get("class")
        if klass not in STATUS_CLASSES:
            raise SuiteError(
                f"{path.name}: status {status!r} needs class one of {STATUS_CLASSES}, got {klass!r}"
            )
        classes[status] = klass
        meanings[status] = " ".join(str(spec.get("meaning", "")).split())
    return StatusVocabulary(classes=classes, meanings=meanings)


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
class Corridor:
    """A named set of exporter -> importer pairs (e.g. a pipeline through a transit port)."""

    id: str
    pairs: tuple[tuple[str, str], ...]
    description: str = ""

    def sql_condition(self, alias: str = "", corridor_column: str | None = None) -> str:
        prefix = f"{alias}." if alias else ""
        parts = [
            f"({prefix}exporter_iso3 = {_q(e)} and {prefix}importer_iso3 = {_q(i)})"
            for e, i in self.pairs
        ]
        if corridor_column:  # the mart names the corridor itself once issue 4 lands
            parts.append(f"{prefix}{corridor_column} = {_q(self.id)}")
        return "(" + " or ".join(parts or ["false"]) + ")"


@dataclass(frozen=True)
class ToleranceRule:
    """What the check enforces for the flows it matches (overrides the mart's tolerance_pct)."""

    id: str
    match: dict[str, str]
    tolerance_pct: float | None
    severity: str
    ceiling_pct: float | None = None
    reason: str = ""
    order: int = 0

    @property
    def specificity(self) -> int:
        return sum(_SPECIFICITY[k] for k in self.match)

    def sql_condition(
        self, corridors: dict[str, Corridor], alias: str = "", corridor_column: str | None = None
    ) -> str:
        prefix = f"{alias}." if alias else ""
        parts = []
        for key, value in self.match.items():
            if key == "corridor":
                parts.append(corridors[value].sql_condition(alias, corridor_column))
            elif key == "hs_chapter":
                parts.append(f"left({prefix}hs6, 2) = {_q(value)}")
            else:
                column = {"exporter": "exporter_iso3", "importer": "importer_iso3"}.get(key, key)
                parts.append(f"{prefix}{column} = {_q(value)}")
        return "(" + " and ".join(parts) + ")"


@dataclass(frozen=True)
class TolerancePolicy:
    """Tolerance rules of a suite: the most specific matching rule wins (ties: first in file)."""

    rules: tuple[ToleranceRule, ...] = ()
    corridors: tuple[Corridor, ...] = ()
    default_severity: str = "error"
    hard_ceiling_pct: float = 50.0

    def ordered(self) -> list[ToleranceRule]:
        return sorted(self.rules, key=lambda r: (-r.specificity, r.order))

    def _case(self, value_of: Any, default: str, alias: str, corridor_column: str | None) -> str:
        corridors = {c.id: c for c in self.corridors}
        whens = [
            f"when {r.sql_condition(corridors, alias, corridor_column)} then {value_of(r)}"
            for r in self.ordered()
            if value_of(r) is not None
        ]
        return f"(case {' '.join(whens)} else {default} end)" if whens else default

    def tolerance_sql(self, alias: str = "", corridor_column: str | None = None) -> str:
        prefix = f"{alias}." if alias else ""
        return self._case(
            lambda r: None if r.tolerance_pct is None else repr(float(r.tolerance_pct)),
            f"{prefix}tolerance_pct",
            alias,
            corridor_column,
        )

    def ceiling_sql(self, alias: str = "", corridor_column: str | None = None) -> str:
        return self._case(
            lambda r: None if r.ceiling_pct is None else repr(float(r.ceiling_pct)),
            repr(float(self.hard_ceiling_pct)),
            alias,
            corridor_column,
        )

    def severity_sql(self, alias: str = "", corridor_column: str | None = None) -> str:
        return self._case(
            lambda r: _q(r.severity), _q(self.default_severity), alias, corridor_column
        )

    def rule_sql(self, alias: str = "", corridor_column: str | None = None) -> str:
        return self._case(lambda r: _q(r.id), "'mart tolerance_pct'", alias, corridor_column)


@dataclass(frozen=True)
class ExpectationSpec:
    type: str
    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    query: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None  # None: the suite's severity
    evaluated_where: str | None = None  # SQL over {flows}: the rows this expectation looks at


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
    tolerances: TolerancePolicy = field(default_factory=TolerancePolicy)
    vocabulary: StatusVocabulary = DEFAULT_VOCABULARY
    parameters: dict[str, float] = field(default_factory=dict)

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    def severity_of(self, spec: ExpectationSpec) -> str:
        return spec.severity or self.severity

    @property
    def severities(self) -> list[str]:
        """The severities present in this suite, the suite's own first."""
        found = {self.severity_of(s) for s in self.expectations}
        return [self.severity, *sorted(found - {self.severity})]

    def check_name(self, severity: str) -> str:
        """Dagster check name for this suite's expectations of ``severity``."""
        return f"gx_{self.name}" if severity == self.severity else f"gx_{self.name}__{severity}"

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

    def flows_sql(self, today: dt.date, corridor_column: str | None = None) -> str:
        """``{flows}``: the table annotated with what the check enforces for each row."""
        voc, tol = self.vocabulary, self.tolerances
        compared = voc.sql_list(voc.of_class("compared", "explained"))
        explained = voc.sql_list(voc.of_class("explained"))
        return (
            "(select f.*, "
            f"{tol.tolerance_sql('f', corridor_column)} as check_tolerance_pct, "
            f"{tol.ceiling_sql('f', corridor_column)} as check_ceiling_pct, "
            f"{tol.severity_sql('f', corridor_column)} as check_severity, "
            f"{tol.rule_sql('f', corridor_column)} as tolerance_rule, "
            f"{self.waived_sql(today, 'f')} as is_waived, "
            f"coalesce(f.status in ({compared}), false) as is_compared, "
            f"coalesce(f.status in ({explained}), false) as is_explained, "
            f"coalesce(f.status in ({compared}) and f.status not in ({explained}) "
            f"and abs(f.gap_pct) > {tol.tolerance_sql('f', corridor_column)}, false) as is_breach "
            "from (select * from {batch}) as f)"
        )

    def render_text(self, text: str | None) -> str | None:
        """A description with its parameters written out as numbers a person reads."""
        if not text:
            return text

        def param(m: re.Match[str]) -> str:
            if m.group(1) not in self.parameters:
                raise SuiteError(f"{self.path.name}: unknown parameter {m.group(1)!r} in a text")
            return human_number(self.parameters[m.group(1)])

        text = text.replace("{hard_ceiling_pct}", human_number(self.tolerances.hard_ceiling_pct))
        return _PARAM_RE.sub(param, text)

    def render_query(
        self, query: str, today: dt.date, *, corridor_column: str | None = None
    ) -> str:
        voc = self.vocabulary
        out = query
        if "{flows}" in out:
            out = out.replace("{flows}", self.flows_sql(today, corridor_column))
        out = (
            out.replace("{waived}", self.waived_sql(today))
            .replace("{statuses}", voc.sql_list(voc.statuses))
            .replace("{compared_statuses}", voc.sql_list(voc.of_class("compared", "explained")))
            .replace("{explained_statuses}", voc.sql_list(voc.of_class("explained")))
            .replace("{unexplained_compared_statuses}", voc.sql_list(voc.of_class("compared")))
            .replace("{schema}", self.schema)
        )

        def param(m: re.Match[str]) -> str:
            if m.group(1) not in self.parameters:
                raise SuiteError(f"{self.path.name}: unknown parameter {m.group(1)!r}")
            return repr(float(self.parameters[m.group(1)]))

        return _PARAM_RE.sub(param, out)


def human_number(value: float) -> str:
    """``2``, ``0.95``, ``1,000,000``: how a parameter reads in a sentence."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:g}"


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


def _number(value: Any, what: str, where: str, *, low: float = 0, high: float = 100) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SuiteError(f"{where}: {what} must be a number, got {value!r}")
    if not low <= float(value) <= high:
        raise SuiteError(f"{where}: {what} must be between {low} and {high}, got {value!r}")
    return float(value)


def _parse_corridors(raw: Any, where: str) -> tuple[Corridor, ...]:
    corridors = []
    for entry in raw or []:
        if not isinstance(entry, dict) or not _ID.match(str(entry.get("id", ""))):
            raise SuiteError(f"{where}: a corridor needs an id (lower-case, digits, - _ .)")
        pairs = []
        for pair in entry.get("pairs") or []:
            parts = [p.strip() for p in str(pair).replace("->", ">").split(">")]
            if len(parts) != 2 or not all(_ISO3.match(p) for p in parts):
                raise SuiteError(
                    f"{where}: corridor {entry['id']!r} pair {pair!r} is not 'EXP->IMP' (ISO-3)"
                )
            pairs.append((parts[0], parts[1]))
        unknown = set(entry) - {"id", "pairs", "description"}
        if unknown:
            raise SuiteError(f"{where}: corridor {entry['id']!r} has unknown key(s) {unknown}")
        corridors.append(
            Corridor(
                id=str(entry["id"]),
                pairs=tuple(pairs),
                description=" ".join(str(entry.get("description", "")).split()),
            )
        )
    ids = [c.id for c in corridors]
    if len(set(ids)) != len(ids):
        raise SuiteError(f"{where}: corridor ids must be unique")
    return tuple(corridors)


def _parse_tolerances(raw: Any, corridors: tuple[Corridor, ...], where: str) -> TolerancePolicy:
    if raw is None:
        return TolerancePolicy(corridors=corridors)
    if not isinstance(raw, dict):
        raise SuiteError(f"{where}: 'tolerances' must be a mapping (default_severity, rules, ...)")
    unknown = set(raw) - {"default_severity", "hard_ceiling_pct", "rules"}
    if unknown:
        raise SuiteError(f"{where}: tolerances has unknown key(s) {sorted(unknown)}")
    default_severity = raw.get("default_severity", "error")
    if default_severity not in SEVERITIES:
        raise SuiteError(f"{where}: tolerances.default_severity must be one of {SEVERITIES}")
    ceiling = _number(raw.get("hard_ceiling_pct", 50), "hard_ceiling_pct", where)
    known_corridors = {c.id for c in corridors}
    rules = []
    for index, entry in enumerate(raw.get("rules") or []):
        if not isinstance(entry, dict) or not _ID.match(str(entry.get("id", ""))):
            raise SuiteError(f"{where}: tolerance rule #{index + 1} needs an id")
        rid = str(entry["id"])
        match = {k: str(entry[k]) for k in _RULE_PATTERNS if entry.get(k) is not None}
        if not match:
            raise SuiteError(
                f"{where}: tolerance rule {rid!r} needs at least one match key "
                f"({', '.join(_RULE_PATTERNS)})"
            )
        for key, value in match.items():
            if not _RULE_PATTERNS[key].match(value):
                raise SuiteError(f"{where}: tolerance rule {rid!r} has invalid {key} {value!r}")
        if "corridor" in match and match["corridor"] not in known_corridors:
            raise SuiteError(
                f"{where}: tolerance rule {rid!r} names unknown corridor {match['corridor']!r}"
            )
        allowed = {*_RULE_PATTERNS, "id", "tolerance_pct", "ceiling_pct", "severity", "reason"}
        if set(entry) - allowed:
            raise SuiteError(
                f"{where}: tolerance rule {rid!r} has unknown key(s) {sorted(set(entry) - allowed)}"
            )
        severity = entry.get("severity", default_severity)
        if severity not in SEVERITIES:
            raise SuiteError(
                f"{where}: tolerance rule {rid!r} severity must be one of {SEVERITIES}"
            )
        tolerance = entry.get("tolerance_pct")
        ceiling_pct = entry.get("ceiling_pct")
        if tolerance is None and ceiling_pct is None and "severity" not in entry:
            raise SuiteError(
                f"{where}: tolerance rule {rid!r} sets nothing (tolerance_pct, ceiling_pct or "
                "severity)"
            )
        rules.append(
            ToleranceRule(
                id=rid,
                match=match,
                tolerance_pct=None
                if tolerance is None
                else _number(tolerance, f"rule {rid!r} tolerance_pct", where),
                severity=severity,
                ceiling_pct=None
                if ceiling_pct is None
                else _number(ceiling_pct, f"rule {rid!r} ceiling_pct", where),
                reason=" ".join(str(entry.get("reason", "")).split()),
                order=index,
            )
        )
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise SuiteError(f"{where}: tolerance rule ids must be unique")
    return TolerancePolicy(
        rules=tuple(rules),
        corridors=corridors,
        default_severity=default_severity,
        hard_ceiling_pct=ceiling,
    )


def _parse_expectation(raw: dict[str, Any], where: str, index: int) -> ExpectationSpec:
    if not isinstance(raw, dict) or "type" not in raw:
        raise SuiteError(f"{where}: expectation #{index + 1} needs a 'type'")
    kind = str(raw["type"])
    kwargs = dict(raw.get("kwargs") or {})
    if kind == "unexpected_rows":
        query = str(raw.get("query") or "")
        if "{batch}" not in query and "{flows}" not in query:
            raise SuiteError(f"{where}: unexpected_rows #{index + 1} needs a query using {{batch}}")
        name = str(raw.get("name") or f"unexpected_rows_{index + 1}")
    else:
        column = kwargs.get("column") or ",".join(kwargs.get("column_list") or [])
        name = str(raw.get("name") or (f"{kind}:{column}" if column else kind))
    severity = raw.get("severity")
    if severity is not None and severity not in SEVERITIES:
        raise SuiteError(f"{where}: expectation {name!r} severity must be one of {SEVERITIES}")
    return ExpectationSpec(
        type=kind,
        name=name,
        kwargs=kwargs,
        description=" ".join(str(raw["description"]).split()) if raw.get("description") else None,
        query=" ".join(str(raw["query"]).split()) if raw.get("query") else None,
        meta=dict(raw.get("meta") or {}),
        severity=severity,
        evaluated_where=" ".join(str(raw["evaluated_where"]).split())
        if raw.get("evaluated_where")
        else None,
    )


def load_suite(path: Path, vocabulary: StatusVocabulary | None = None) -> Suite:
    """Parse and validate one suite file (the vocabulary: ``statuses.yml`` next to it)."""
    if vocabulary is None:
        vocabulary = load_vocabulary(path.parent / VOCABULARY_FILE)
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
    corridors = _parse_corridors(raw.get("corridors"), where)
    parameters = {}
    for name, value in (raw.get("parameters") or {}).items():
        if not _IDENT.match(str(name)):
            raise SuiteError(f"{where}: parameter {name!r} must be a lower-case identifier")
        parameters[str(name)] = _number(value, f"parameter {name!r}", where, high=1e15)
    unknown = set(raw) - {
        "suite",
        "schema",
        "table",
        "severity",
        "description",
        "expectations",
        "waivers",
        "tolerances",
        "corridors",
        "parameters",
    }
    if unknown:
        raise SuiteError(f"{where}: unknown top-level key(s) {sorted(unknown)}")
    suite = Suite(
        name=raw["suite"],
        schema=raw["schema"],
        table=raw["table"],
        severity=severity,
        description=" ".join(str(raw.get("description", "")).split()),
        expectations=expectations,
        waivers=waivers,
        path=path,
        tolerances=_parse_tolerances(raw.get("tolerances"), corridors, where),
        vocabulary=vocabulary,
        parameters=parameters,
    )
    for spec in expectations:  # unknown {param:...} fail at load time, not at run time
        if spec.query:
            suite.render_query(spec.query, dt.date.today())
    return replace(
        suite,
        description=suite.render_text(suite.description) or "",
        expectations=tuple(
            replace(e, description=suite.render_text(e.description)) for e in expectations
        ),
    )


def load_suites(folder: Path) -> list[Suite]:
    """Every suite ``*.yml`` in ``folder`` (not ``statuses.yml``), sorted by file name."""
    vocabulary = load_vocabulary(folder / VOCABULARY_FILE)
    return [
        load_suite(p, vocabulary) for p in sorted(folder.glob("*.yml")) if p.name != VOCABULARY_FILE
    ]


def gx_kwargs(spec: ExpectationSpec, suite: Suite) -> dict[str, Any]:
    """The expectation's kwargs with ``"{statuses}"`` style lists filled from the vocabulary."""
    voc = suite.vocabulary
    lists = {
        "{statuses}": voc.statuses,
        "{compared_statuses}": voc.of_class("compared", "explained"),
        "{explained_statuses}": voc.of_class("explained"),
    }
    return {
        k: (lists[v] if isinstance(v, str) and v in lists else v) for k, v in spec.kwargs.items()
    }


def to_gx_expectation(
    spec: ExpectationSpec, suite: Suite, today: dt.date, *, corridor_column: str | None = None
) -> Any:
    """Build the GX expectation object for ``spec`` (imports GX: call at check time only)."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    meta = {"name": spec.name, "severity": suite.severity_of(spec), **spec.meta}
    if spec.type == "unexpected_rows":
        return gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=suite.render_query(
                spec.query or "", today, corridor_column=corridor_column
            ),
            description=spec.description or spec.name,
            meta=meta,
        )
    try:
        config = ExpectationConfiguration(type=spec.type, kwargs=gx_kwargs(spec, suite), meta=meta)
        return config.to_domain_obj()
    except Exception as exc:
        raise SuiteError(
            f"{suite.path.name}: expectation {spec.name!r} ({spec.type}) is not usable: {exc}"
        ) from exc
