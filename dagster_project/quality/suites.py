"""Suites in ``expectations/*.yml``: validated models, turned into GX expectations.

Pure functions (no GX import at module load, no database) so they are unit-tested on their own.
Every file is read into pydantic models that forbid unknown keys; every value that reaches SQL
(waivers, tolerance rules, corridors, statuses, parameters) matches a strict pattern first,
identifiers (schema, table) too. An invalid file fails with one line per problem, naming the
file, the line and the field: ``fct_mirror_trade.yml:53: tolerances.rules[1].corridor: ...``.

Files in ``expectations/``:

``statuses.yml``  the status vocabulary of the mirror mart and how the checks treat each status
                  (``compared`` / ``explained`` / ``not_compared``). New statuses are data.
``*.yml``         one suite each (a ``suite:`` key). A suite may carry ``tolerances`` (rules by
                  HS chapter / HS6 / exporter / importer / corridor with ``tolerance_pct`` and
                  ``severity``) and ``waivers`` (reason + expiry).

One source of truth: a corridor a rule names is the dbt seed's (``dbt/seeds/corridors``: the
origin, the declared partner and the importers at the end of the route); a suite does not
define corridors. The mart's tolerance by HS chapter is the seed ``mirror_tolerances.csv``; a
rule on a chapter alone that the seed also sets must agree with it (a rule exists to judge
differently from the mart, and a rule that only restates the seed with another number would
be two answers to one question).

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

import csv
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dagster_project.settings import DBT_PROJECT_DIR

SEVERITIES = ("error", "warn")
STATUS_CLASSES = ("compared", "explained", "not_compared")
VOCABULARY_FILE = "statuses.yml"
CORRIDOR_SEEDS = DBT_PROJECT_DIR / "seeds" / "corridors"
CORRIDORS_FILE = "transit_corridors.csv"
CORRIDOR_IMPORTERS_FILE = "transit_corridor_importers.csv"
TOLERANCE_SEED = DBT_PROJECT_DIR / "seeds" / "mirror_tolerances.csv"
# How much a match key narrows a rule: the most specific matching rule wins.
_SPECIFICITY = {"corridor": 8, "exporter": 4, "importer": 4, "hs6": 3, "hs_chapter": 2, "freq": 1}
# in the order they are written into SQL and shown
_MATCH_KEYS = ("hs_chapter", "hs6", "exporter", "importer", "corridor", "freq")
_WAIVER_MATCH_FIELDS = ("exporter_iso3", "importer_iso3", "hs6", "freq")
_PARAM_RE = re.compile(r"\{param:([a-z_][a-z0-9_]*)\}")

Severity = Literal["error", "warn"]
StatusClass = Literal["compared", "explained", "not_compared"]


class SuiteError(ValueError):
    """A suite file is invalid; the message names the file, the line and the field."""


def _q(value: str) -> str:
    """A SQL string literal of a value already validated against a strict pattern."""
    return "'" + value.replace("'", "''") + "'"


# Field types: each names what it expects in its error ----------------------------------------


def _scalar_text(value: Any) -> Any:
    """YAML reads ``hs6: 270900`` as a number: codes are text (leading zeros are not)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value  # the str validator says what is wrong
    return str(value)


def _matching(pattern: str, what: str) -> Any:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return Annotated[str, BeforeValidator(_scalar_text), AfterValidator(check)]


def _folded(value: Any) -> Any:
    """Folded YAML text (``>``) on one line, whitespace collapsed."""
    return " ".join(str(value).split()) if isinstance(value, str | int | float) else value


def _number_between(low: float, high: float) -> Any:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, got {value!r}")
        if not low <= float(value) <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, got {value!r}")
        return float(value)

    return Annotated[float, BeforeValidator(check)]


Identifier = _matching(r"^[a-z_][a-z0-9_]*$", "a lower-case identifier")
Id = _matching(r"^[a-z0-9][a-z0-9_.-]{0,63}$", "an id (lower-case letters, digits, - _ .)")
Iso3 = _matching(r"^[A-Z_][A-Z0-9_]{1,3}$", "an ISO-3 code (e.g. KAZ)")
Hs6 = _matching(r"^\d{6}$", "an HS6 code (six digits)")
HsChapter = _matching(r"^\d{2}$", "an HS chapter (two digits)")
Freq = _matching(r"^[AM]$", "a frequency (A or M)")
Period = _matching(r"^\d{4}(\d{2})?$", "a period (YYYY or YYYYMM)")
Text = Annotated[str, BeforeValidator(_folded)]
RequiredText = Annotated[str, BeforeValidator(_folded), Field(min_length=1)]
Percent = _number_between(0, 100)
Parameter = _number_between(0, 1e15)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# The status vocabulary -----------------------------------------------------------------------


class _StatusEntry(_Model):
    class_: StatusClass = Field(alias="class")
    meaning: Text = ""


class _VocabularyFile(_Model):
    statuses: dict[Identifier, _StatusEntry] = Field(min_length=1)


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
    parsed = _validate(_VocabularyFile, path)
    return StatusVocabulary(
        classes={status: entry.class_ for status, entry in parsed.statuses.items()},
        meanings={status: entry.meaning for status, entry in parsed.statuses.items()},
    )


# Waivers, corridors, tolerance rules ---------------------------------------------------------


class Waiver(_Model):
    id: Id
    exporter_iso3: Iso3
    importer_iso3: Iso3
    hs6: Hs6
    reason: RequiredText
    expires: dt.date
    freq: Freq | None = None
    period_from: Period | None = None
    period_to: Period | None = None
    owner: Text | None = None

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


class Corridor(_Model):
    """A named set of exporter -> importer pairs (a pipeline through a transit port), built from
    the dbt seed: the origin to the declared partner and to every importer of the route."""

    id: Id
    pairs: tuple[tuple[Iso3, Iso3], ...]
    description: Text = ""

    def sql_condition(self, alias: str = "", corridor_column: str | None = None) -> str:
        prefix = f"{alias}." if alias else ""
        parts = [
            f"({prefix}exporter_iso3 = {_q(e)} and {prefix}importer_iso3 = {_q(i)})"
            for e, i in self.pairs
        ]
        if corridor_column:  # the mart names the corridor a flow was attributed to
            parts.append(f"{prefix}{corridor_column} = {_q(self.id)}")
        return "(" + " or ".join(parts or ["false"]) + ")"


class ToleranceRule(_Model):
    """What the check enforces for the flows it matches (overrides the mart's tolerance_pct).

    ``severity`` left out takes the policy's ``default_severity``."""

    id: Id
    hs_chapter: HsChapter | None = None
    hs6: Hs6 | None = None
    exporter: Iso3 | None = None
    importer: Iso3 | None = None
    corridor: Id | None = None
    freq: Freq | None = None
    tolerance_pct: Percent | None = None
    ceiling_pct: Percent | None = None
    severity: Severity = "error"
    reason: Text = ""

    @model_validator(mode="before")
    @classmethod
    def _sets_something(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or set(raw) - set(cls.model_fields):
            return raw  # an unknown key (a typo of a match key?) is the error to report
        if not any(raw.get(k) is not None for k in _MATCH_KEYS):
            raise ValueError(f"needs at least one match key ({', '.join(_MATCH_KEYS)})")
        if all(raw.get(k) is None for k in ("tolerance_pct", "ceiling_pct", "severity")):
            raise ValueError("sets nothing (tolerance_pct, ceiling_pct or severity)")
        return raw

    @field_validator("corridor")
    @classmethod
    def _known_corridor(cls, value: str | None, info: ValidationInfo) -> str | None:
        known = (info.context or {}).get("corridors", {})
        if value is not None and value not in known:
            raise ValueError(
                f"unknown corridor {value!r}: corridors are the dbt seed's "
                f"(dbt/seeds/corridors/{CORRIDORS_FILE}: {', '.join(sorted(known)) or 'none'})"
            )
        return value

    @property
    def match(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in _MATCH_KEYS if getattr(self, k) is not None}

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


class TolerancePolicy(_Model):
    """Tolerance rules of a suite: the most specific matching rule wins (ties: first in file).
    ``corridors`` come from the dbt seed, never from the suite file."""

    default_severity: Severity = "error"
    hard_ceiling_pct: Percent = 50.0
    rules: tuple[ToleranceRule, ...] = ()
    corridors: tuple[Corridor, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, raw: Any, info: ValidationInfo) -> Any:
        if not isinstance(raw, dict):
            return raw
        default = raw.get("default_severity", "error")
        rules = raw.get("rules")
        raw = {k: v for k, v in raw.items() if k != "rules" or v is not None}
        if isinstance(rules, list):
            raw["rules"] = [_with_default_severity(r, default) for r in rules]
        corridors = (info.context or {}).get("corridors")
        if corridors is not None:  # read from a suite file: corridors are the seed's
            if "corridors" in raw:
                raise ValueError(_CORRIDORS_IN_SUITE)
            raw["corridors"] = list(corridors.values())
        return raw

    @field_validator("rules")
    @classmethod
    def _unique_and_agreeing_with_the_seed(
        cls, rules: tuple[ToleranceRule, ...], info: ValidationInfo
    ) -> tuple[ToleranceRule, ...]:
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"tolerance rule ids must be unique, got {ids}")
        seed = (info.context or {}).get("chapter_tolerances", {})
        for rule in rules:
            chapter = rule.hs_chapter
            if (
                set(rule.match) == {"hs_chapter"}
                and chapter in seed
                and rule.tolerance_pct is not None
                and rule.tolerance_pct != seed[chapter]
            ):
                raise ValueError(
                    f"rule {rule.id!r} sets chapter {chapter}'s tolerance to "
                    f"{rule.tolerance_pct:g} %, the dbt seed {TOLERANCE_SEED.name} to "
                    f"{seed[chapter]:g} % (what the mart judges with): one answer, change "
                    "the seed or narrow the rule"
                )
        return rules

    def ordered(self) -> list[ToleranceRule]:
        order = {r.id: i for i, r in enumerate(self.rules)}
        return sorted(self.rules, key=lambda r: (-r.specificity, order[r.id]))

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


def _with_default_severity(rule: Any, default: Any) -> Any:
    """A rule that sets a tolerance or a ceiling but no severity takes the policy's default."""
    if (
        isinstance(rule, dict)
        and "severity" not in rule
        and (rule.get("tolerance_pct") is not None or rule.get("ceiling_pct") is not None)
    ):
        return {**rule, "severity": default}
    return rule


_CORRIDORS_IN_SUITE = (
    "corridors are not defined in a suite: a rule names a corridor of the dbt seed "
    f"(dbt/seeds/corridors/{CORRIDORS_FILE} and {CORRIDOR_IMPORTERS_FILE})"
)


# Expectations and the suite file -------------------------------------------------------------


class ExpectationSpec(_Model):
    type: RequiredText
    name: RequiredText
    kwargs: dict[str, Any] = Field(default_factory=dict)
    description: Text | None = None
    query: Text | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    severity: Severity | None = None  # None: the suite's severity
    evaluated_where: Text | None = None  # SQL over {flows}: the rows this expectation looks at

    @model_validator(mode="after")
    def _query_reads_the_table(self) -> ExpectationSpec:
        query = self.query or ""
        if self.type == "unexpected_rows" and "{batch}" not in query and "{flows}" not in query:
            raise ValueError("unexpected_rows needs a query using {batch} (or {flows})")
        if "--" in query:
            # a query is read as one line (Text folds it): a -- comment would silently comment
            # out the rest, and the truncated query may still run and find nothing
            raise ValueError(
                "a -- comment comments out everything after it (a query is read as one line): "
                "use /* ... */"
            )
        return self


def _default_name(index: int, raw: Any) -> Any:
    """``unexpected_rows_3`` or ``expect_column_values_to_not_be_null:hs6`` when not named."""
    if not isinstance(raw, dict) or raw.get("name") or "type" not in raw:
        return raw
    kind = str(raw["type"])
    if kind == "unexpected_rows":
        return {**raw, "name": f"unexpected_rows_{index + 1}"}
    kwargs = raw.get("kwargs") if isinstance(raw.get("kwargs"), dict) else {}
    column = kwargs.get("column") or ",".join(kwargs.get("column_list") or [])
    return {**raw, "name": f"{kind}:{column}" if column else kind}


class SuiteFile(_Model):
    """One ``expectations/*.yml`` as written."""

    suite: Identifier
    schema_: Identifier = Field(alias="schema")
    table: Identifier
    severity: Severity = "error"
    description: Text = ""
    parameters: dict[Identifier, Parameter] = Field(default_factory=dict)
    tolerances: TolerancePolicy | None = None
    expectations: tuple[ExpectationSpec, ...] = Field(min_length=1)
    waivers: tuple[Waiver, ...] = ()
    corridors: None = Field(default=None, exclude=True)  # only to say where they are instead

    @field_validator("corridors", mode="before")
    @classmethod
    def _no_corridors(cls, value: Any) -> None:
        raise ValueError(_CORRIDORS_IN_SUITE)

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        expectations = raw.get("expectations")
        if isinstance(expectations, list):
            raw = {**raw, "expectations": [_default_name(i, e) for i, e in enumerate(expectations)]}
        for key in ("waivers", "parameters"):
            if key in raw and raw[key] is None:
                raw = {k: v for k, v in raw.items() if k != key}
        return raw

    @field_validator("expectations")
    @classmethod
    def _unique_names(cls, specs: tuple[ExpectationSpec, ...]) -> tuple[ExpectationSpec, ...]:
        names = [e.name for e in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"expectation names must be unique, got {names}")
        return specs

    @field_validator("waivers")
    @classmethod
    def _unique_ids(cls, waivers: tuple[Waiver, ...]) -> tuple[Waiver, ...]:
        ids = [w.id for w in waivers]
        if len(set(ids)) != len(ids):
            raise ValueError(f"waiver ids must be unique, got {ids}")
        return waivers


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


# Reading files: YAML with its line numbers, the seeds ------------------------------------------


def _yaml_with_lines(path: Path) -> tuple[Any, dict[tuple[str, ...], int]]:
    """The document and the line of every key and list item, by path (keys as text)."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path.name}: not valid YAML: {exc}") from exc
    lines: dict[tuple[str, ...], int] = {}

    def walk(n: yaml.Node, at: tuple[str, ...]) -> None:
        lines.setdefault(at, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                lines[(*at, str(key.value))] = key.start_mark.line + 1
                walk(value, (*at, str(key.value)))
        elif isinstance(n, yaml.SequenceNode):
            for index, item in enumerate(n.value):
                walk(item, (*at, str(index)))

    if node is not None:
        walk(node, ())
    return data, lines


def _where(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error: Mapping[str, Any]) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "missing":
        return "missing (required)"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {value!r}"
    if kind.startswith("date"):
        return f"{value!r} is not a date (YYYY-MM-DD)"
    if kind == "too_short":
        return "must not be empty"
    return str(error["msg"])


def error_lines(exc: ValidationError, file: str, lines: Mapping[tuple[str, ...], int]) -> str:
    """``file:line: field.path: what is wrong``, one line per error."""
    out = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        path = tuple(str(p) for p in loc)
        line = next((lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in lines), None)
        where = f"{file}:{line}" if line else file
        field_path = _where(loc)
        out.append(f"{where}: {field_path + ': ' if field_path else ''}{_message(error)}")
    return "\n".join(out)


def _validate(model: type[_Model], path: Path, context: dict[str, Any] | None = None) -> Any:
    data, lines = _yaml_with_lines(path)
    if not isinstance(data, dict):
        raise SuiteError(f"{path.name}:1: expected a mapping at the top level")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise SuiteError(error_lines(exc, path.name, lines)) from None


def _csv_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return [(reader.line_num, row) for row in reader]


def load_corridors(folder: Path = CORRIDOR_SEEDS) -> dict[str, Corridor]:
    """The corridors of the dbt seed a tolerance rule may name (``decision: confirm``): the
    origin to the declared partner, then to each importer of the route, in the seed's order."""
    importers: dict[str, list[str]] = {}
    for _, row in _csv_rows(folder / CORRIDOR_IMPORTERS_FILE):
        importers.setdefault(row["corridor_id"], []).append(row["importer_iso3"])
    corridors = {}
    for line, row in _csv_rows(folder / CORRIDORS_FILE):
        if row.get("decision") != "confirm":
            continue
        origin = row["origin_iso3"]
        try:
            corridor = Corridor(
                id=row["corridor_id"],
                pairs=tuple(
                    (origin, to)
                    for to in [row["declared_partner_iso3"], *importers.get(row["corridor_id"], [])]
                ),
                description=row.get("route") or "",
            )
        except ValidationError as exc:
            raise SuiteError(error_lines(exc, f"{CORRIDORS_FILE}:{line}", {})) from None
        corridors[corridor.id] = corridor
    return corridors


def load_chapter_tolerances(path: Path = TOLERANCE_SEED) -> dict[str, float]:
    """The mart's tolerance by HS chapter (dbt seed ``mirror_tolerances.csv``)."""
    return {row["hs_chapter"].zfill(2): float(row["tolerance_pct"]) for _, row in _csv_rows(path)}


def load_suite(
    path: Path,
    vocabulary: StatusVocabulary | None = None,
    corridors: Mapping[str, Corridor] | None = None,
    chapter_tolerances: Mapping[str, float] | None = None,
) -> Suite:
    """Parse and validate one suite file (the vocabulary: ``statuses.yml`` next to it; the
    corridors and the mart's chapter tolerances: the dbt seeds)."""
    if vocabulary is None:
        vocabulary = load_vocabulary(path.parent / VOCABULARY_FILE)
    context = {
        "corridors": dict(load_corridors() if corridors is None else corridors),
        "chapter_tolerances": dict(
            load_chapter_tolerances() if chapter_tolerances is None else chapter_tolerances
        ),
    }
    parsed: SuiteFile = _validate(SuiteFile, path, context)
    suite = Suite(
        name=parsed.suite,
        schema=parsed.schema_,
        table=parsed.table,
        severity=parsed.severity,
        description=parsed.description,
        expectations=parsed.expectations,
        waivers=parsed.waivers,
        path=path,
        tolerances=parsed.tolerances
        or TolerancePolicy(corridors=tuple(context["corridors"].values())),
        vocabulary=vocabulary,
        parameters=dict(parsed.parameters),
    )
    for spec in suite.expectations:  # unknown {param:...} fail at load time, not at run time
        if spec.query:
            suite.render_query(spec.query, dt.date.today())
    return replace(
        suite,
        description=suite.render_text(suite.description) or "",
        expectations=tuple(
            e.model_copy(update={"description": suite.render_text(e.description)})
            for e in suite.expectations
        ),
    )


def load_suites(folder: Path) -> list[Suite]:
    """Every suite ``*.yml`` in ``folder`` (not ``statuses.yml``), sorted by file name."""
    vocabulary = load_vocabulary(folder / VOCABULARY_FILE)
    corridors = load_corridors()
    chapters = load_chapter_tolerances()
    return [
        load_suite(p, vocabulary, corridors, chapters)
        for p in sorted(folder.glob("*.yml"))
        if p.name != VOCABULARY_FILE
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
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    from dagster_project.quality.gx_duckdb import counted_unexpected_rows

    meta = {"name": spec.name, "severity": suite.severity_of(spec), **spec.meta}
    if spec.type == "unexpected_rows":
        return counted_unexpected_rows()(
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
