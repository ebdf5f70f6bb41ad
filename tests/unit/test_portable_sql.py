"""The dbt project's SQL runs on DuckDB and on Spark (dbt-spark): no DuckDB-only construct in
``dbt/models``, ``dbt/tests`` and ``dbt/macros``, except in ``dbt/macros/cross_db/``, whose
``adapter.dispatch`` macros hold each construct once per engine.

Read as text: SQL comments, string literals and Jinja (``{{ }}``, ``{% %}``, ``{# #}``) are
blanked first (keeping line numbers), so a macro call or a comment naming a function is not a
finding. In ``.yml`` files only the SQL of data tests is read (``expression:``, ``where:``...):
the lines outside quotes of descriptions do not run.

A finding names the file and line, the construct and what to use instead. Constructs that work
on both (QUALIFY, GROUP BY ALL, RANGE frames with intervals, ``try_cast``, ``median``,
``any_value``, ``bool_or``, ``::`` casts to types both know) are not findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt"
SCANNED = ("models", "tests", "macros", "seeds")
CROSS_DB = DBT_DIR / "macros" / "cross_db"
# owned by the Spark runtime (branch spark-runtime): not this lint's business yet
NOT_SCANNED = {DBT_DIR / "macros" / "build_by_period.sql"}


@dataclass(frozen=True)
class Rule:
    construct: str
    pattern: re.Pattern[str]
    instead: str


def _rule(construct: str, pattern: str, instead: str) -> Rule:
    return Rule(construct, re.compile(pattern, re.IGNORECASE), instead)


RULES: tuple[Rule, ...] = (
    _rule(
        "double-quoted identifier",
        r'"[^"\n]*"',
        "{{ adapter.quote('name') }} (a double-quoted name is a string literal on Spark)",
    ),
    _rule(
        "regexp_full_match()", r"\bregexp_full_match\s*\(", "{{ regexp_full_match(x, pattern) }}"
    ),
    _rule("regexp_matches()", r"\bregexp_matches\s*\(", "{{ regexp_contains(x, pattern) }}"),
    _rule("similar to", r"\bsimilar\s+to\b", "{{ regexp_full_match(x, pattern) }}"),
    _rule("strftime()", r"\bstrftime\s*\(", "{{ format_date(x, format) }}"),
    _rule("strptime()", r"\b(try_)?strptime\s*\(", "{{ try_parse_timestamp(x, format) }}"),
    _rule("starts_with()", r"\bstarts_with\s*\(", "{{ starts_with(x, prefix) }}"),
    _rule("string_agg()", r"\b(string_agg|group_concat|listagg)\s*\(", "{{ string_agg_sorted() }}"),
    _rule("list function", r"\b(list_\w+|array_position|list)\s*\(", "a Jinja loop or CASE"),
    _rule("list literal [...]", r"\[", "a Jinja loop or CASE (array() on Spark)"),
    _rule("* exclude (...)", r"\bexclude\s*\(", "the columns kept, listed"),
    _rule("mad()", r"\bmad\s*\(", "{{ mad(x) }}"),
    _rule("printf()", r"\b(printf|format)\s*\(", "{{ format_text(format, args) }}"),
    _rule(
        "round()",
        r"\bround\s*\(",
        "{{ round_exact(x, digits) }} (Spark rounds the shortest decimal form: 2.675 -> 2.68)",
    ),
    _rule(
        "named window extended in OVER",
        r"\bover\s*\(\s*(?!partition\b|order\b|rows\b|range\b)\w+\s+(order|rows|range)\b",
        "the window's partition written out (a Jinja variable shared with its WINDOW clause)",
    ),
    _rule(
        "window name then minus",
        r"\bover\s+\w+\s*-(?!-)",
        "(f(x) over w) - y: Spark reads `w - y` after OVER as one hyphenated name",
    ),
    _rule(
        "CASE of decimal literals",
        r"\bthen\s+[0-9]+\.[0-9]+\s+else\s+[0-9]+\.[0-9]+(?![0-9.ed])",
        "cast(1 as double) (on Spark 1.0 is DECIMAL(2,1): its avg() keeps 5 decimals, "
        "DuckDB's is a double)",
    ),
    _rule("interval (expression)", r"\binterval\s*\(", "interval N unit, N a literal"),
    _rule("unnest()", r"\bunnest\s*\(", "a join (explode on Spark)"),
    _rule("arg_max()/arg_min()", r"\b(arg_max|arg_min|argmax|argmin)\s*\(", "max_by()/min_by()"),
    _rule(
        "date_diff()/date_part()",
        r"\b(date_diff|datediff|date_part|datepart|date_sub)\s*\(",
        "{{ dbt.datediff() }} / extract",
    ),
    _rule(
        "date_add()/date_trunc()",
        r"\b(date_add|dateadd|date_trunc)\s*\(",
        "{{ dbt.dateadd() }} / {{ dbt.date_trunc() }}",
    ),
    _rule("epoch()", r"\bepoch(_ms|_us|_ns)?\s*\(", "unix_timestamp on both via a cross_db macro"),
    _rule("integer division //", r"//", "floor(a / b)"),
    _rule("struct_pack()", r"\bstruct_pack\s*\(", "named_struct via a cross_db macro"),
)

TYPE_RULES = (
    _rule(
        "varchar type",
        r"\bvarchar\b",
        "{{ dbt.type_string() }} in SQL, string in a .yml (Spark wants varchar(n))",
    ),
    _rule(
        "hugeint type",
        r"\b(u?hugeint|ubigint|uinteger|usmallint|utinyint)\b",
        "bigint, or the type by target.type in a contract",
    ),
)
RULES += TYPE_RULES

# what precedes a type in a .yml (not prose): `key: varchar`, `as varchar`, `::varchar`
_YML_TYPE_CONTEXT = re.compile(r"(:\s*|\bas\s+|::)$", re.IGNORECASE)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_STRING = re.compile(r"'(?:[^']|'')*'")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_LINE_COMMENT = re.compile(r"--[^\n]*")
# the data-test keys of a .yml file whose value is SQL
_YML_SQL = re.compile(r"^\s*-?\s*(expression|where|condition|sql)\s*:\s*(.*)$")


def _blank(match: re.Match[str]) -> str:
    """The match as spaces, its line breaks kept (findings keep their line numbers)."""
    return re.sub(r"[^\n]", " ", match.group(0))


def blank_non_sql(text: str) -> str:
    """SQL text with Jinja, comments and string literals blanked, line numbers kept."""
    text = _JINJA.sub(_blank, text)
    out = []
    for line in text.split("\n"):
        line = _STRING.sub(lambda m: "'" + " " * (len(m.group(0)) - 2) + "'", line)
        out.append(_LINE_COMMENT.sub(_blank, line))
    return _BLOCK_COMMENT.sub(_blank, "\n".join(out))


def yml_sql(text: str) -> str:
    """The SQL of a .yml file's data tests, at its lines; every other line blank."""
    lines = []
    for line in text.split("\n"):
        match = _YML_SQL.match(line)
        value = match.group(2).strip() if match else ""
        if len(value) > 1 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]  # the YAML quotes around the SQL
        lines.append(value)
    return blank_non_sql("\n".join(lines))


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    construct: str
    instead: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.construct} does not port to Spark; use {self.instead}"
        )


ORDERED_AGGREGATE = "ordered aggregate f(x order by y)"
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)
_CALLER = re.compile(r"(\w+)\s*$")
# an ORDER BY in parentheses after these is a window's or a subquery's, not an aggregate's
_NOT_AGGREGATES = {"over", "as", "string_agg", "group_concat", "listagg", "in", "from", "join"}


def ordered_aggregate_lines(sql: str) -> Iterator[int]:
    """Lines of the ORDER BYs inside an aggregate's parentheses (``sum(x order by y)``):
    Spark has no ordered aggregates."""
    for match in _ORDER_BY.finditer(sql):
        depth, start = 0, match.start()
        while start > 0 and depth >= 0:
            start -= 1
            depth += {")": 1, "(": -1}.get(sql[start], 0)
        if depth >= 0:
            continue  # at the top level: the query's own ORDER BY
        inside = sql[start + 1 : match.start()].strip().lower()
        caller = _CALLER.search(sql[:start])
        is_call = caller is not None and caller.group(1).lower() not in _NOT_AGGREGATES
        if is_call and not inside.startswith(("select", "partition", "with")):
            yield sql.count("\n", 0, match.start()) + 1


def lint_text(text: str, path: str, *, yml: bool = False) -> list[Finding]:
    """Every DuckDB-only construct of a file's text, in line order."""
    sql = yml_sql(text) if yml else blank_non_sql(text)
    found = {
        (number, ORDERED_AGGREGATE, "{{ sum_ordered() }} / {{ first_ordered() }}")
        for number in ordered_aggregate_lines(sql)
    }
    for number, line in enumerate(sql.split("\n"), start=1):
        for rule in RULES:
            if rule.pattern.search(line):
                found.add((number, rule.construct, rule.instead))
    if yml:  # types as values: contracts' data_type, seeds' column_types, fixtures' casts
        for number, line in enumerate(_JINJA.sub(_blank, text).split("\n"), start=1):
            for rule in TYPE_RULES:
                match = rule.pattern.search(line)
                if match and _YML_TYPE_CONTEXT.search(line[: match.start()]):
                    found.add((number, rule.construct, rule.instead))
    order = {rule.construct: i for i, rule in enumerate(RULES)} | {ORDERED_AGGREGATE: len(RULES)}
    return [Finding(path, *f) for f in sorted(found, key=lambda f: (f[0], order[f[1]]))]


def scanned_files() -> Iterator[Path]:
    for folder in SCANNED:
        for path in sorted((DBT_DIR / folder).rglob("*")):
            if path.suffix not in (".sql", ".yml") or path in NOT_SCANNED:
                continue
            if CROSS_DB in path.parents:
                continue
            yield path


def lint_project() -> list[Finding]:
    findings = []
    for path in scanned_files():
        relative = str(path.relative_to(DBT_DIR.parent))
        findings += lint_text(path.read_text(), relative, yml=path.suffix == ".yml")
    return findings


def test_the_dbt_project_has_no_duckdb_only_sql() -> None:
    findings = lint_project()
    assert not findings, "DuckDB-only SQL (dbt/macros/cross_db/ has the portable macros):\n" + (
        "\n".join(map(str, findings))
    )


def test_the_lint_scans_the_project() -> None:
    scanned = {str(p.relative_to(DBT_DIR)) for p in scanned_files()}
    assert "models/staging/comtrade/stg_comtrade__final.sql" in scanned
    assert not any(p.startswith("macros/cross_db/") for p in scanned)


BAD_SNIPPET = """\
-- string_agg( in a comment is not a finding, nor 'printf(' in a string
select
    "freqCode" as freq,
    {{ regexp_full_match('x', "'[0-9]'") }} as is_code,
    regexp_full_match(cmd_code, '[0-9]{6}') as is_hs6,
    string_agg(hs6, ',' order by hs6) as codes,
    sum(x order by hs6) as x,
    * exclude (y),
    cast(null as varchar) as z,
    printf('%.1f', w) as label,
    list_position(['a', 'b'], s) as rank
from t
"""


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ("sum(x) over (w order by y rows between 1 preceding and current row)", "named window"),
        ("range between interval (1) month preceding and current row", "interval (expression)"),
        ("abs(sum(d) over group_window - d)", "window name then minus"),
        ("avg(case when c then 1.0 else 0.0 end)", "CASE of decimal literals"),
    ],
)
def test_the_lint_finds_what_spark_cannot_parse(sql: str, construct: str) -> None:
    assert [f.construct for f in lint_text(sql, "x.sql")] == [
        next(r.construct for r in RULES if r.construct.startswith(construct))
    ]
    assert lint_text("sum(x) over (partition by a order by b)", "x.sql") == []


def test_the_lint_finds_duckdb_only_sql() -> None:
    found = [(f.line, f.construct) for f in lint_text(BAD_SNIPPET, "bad.sql")]
    assert found == [
        (3, "double-quoted identifier"),
        (5, "regexp_full_match()"),
        (6, "string_agg()"),
        (7, ORDERED_AGGREGATE),
        (8, "* exclude (...)"),
        (9, "varchar type"),
        (10, "printf()"),
        (11, "list function"),
        (11, "list literal [...]"),
    ]
    message = str(lint_text(BAD_SNIPPET, "bad.sql")[0])
    assert message.startswith("bad.sql:3: double-quoted identifier does not port to Spark; use ")
    assert "adapter.quote" in message


@pytest.mark.parametrize(
    ("yml", "constructs"),
    [
        ("      - expression: hs6 similar to '[0-9]{6}'\n", ["similar to"]),
        ('    description: "string_agg(x) order by, in prose"\n', []),
        ("        data_type: varchar\n", ["varchar type"]),
        ("        rows: select cast(1 as varchar) as period\n", ["varchar type"]),
        ("      (every delivered column VARCHAR; codes as delivered (varchar)\n", []),
        ("        data_type: \"{{ 'bigint' if target.type == 'spark' else 'hugeint' }}\"\n", []),
        ("      - expression: \"{{ regexp_full_match('hs6', \\\"'[0-9]{6}'\\\") }}\"\n", []),
    ],
)
def test_the_lint_reads_the_sql_of_yml_tests(yml: str, constructs: list[str]) -> None:
    assert [f.construct for f in lint_text(yml, "x.yml", yml=True)] == constructs
