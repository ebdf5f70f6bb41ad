"""Every code block of docs/bi.md, run against the publication of a real `mirror run` with the
clients a BI user installs: the DuckDB CLI from PyPI (the oldest and newest 1.x), Python duckdb
1.0.0 and the project's 2.x, SQLAlchemy + duckdb-engine (Superset), Evidence's DuckDB connector
(npm). `/srv/mirror` in the examples stands for the run's MIRROR_HOME."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.pool import NullPool

from dagster_project.publish.docs import BI_DOC
from tests import client_tools
from tests.e2e.conftest import MirrorRun

pytestmark = pytest.mark.e2e

EXAMPLE_HOME = "/srv/mirror"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# what runs each kind of block; a block of another language fails the inventory test
RUNNERS = {"bash", "python", "text", "yaml", "sql"}


def doc_blocks(language: str | None = None) -> list[str]:
    blocks = [(m.group(1), m.group(2)) for m in _FENCE.finditer(BI_DOC.read_text("utf-8"))]
    return [code for lang, code in blocks if language is None or lang == language]


def is_evidence(code: str) -> bool:
    return "sources/mirror" in code


@pytest.fixture(scope="module")
def home(sample_run: MirrorRun) -> Path:
    assert sample_run.returncode == 0, sample_run.stdout + sample_run.stderr
    return sample_run.home


@pytest.fixture(scope="module")
def published_facts(home: Path) -> dict[str, object]:
    with duckdb.connect(str(home / "published" / "mirror.duckdb"), read_only=True) as con:
        return {
            "publication_id": con.execute("select publication_id from main.publication").fetchall()[
                0
            ][0],
            "flows": con.execute("select count(*) from marts.fct_mirror_trade").fetchall()[0][0],
            "statuses": sorted(
                r[0]
                for r in con.execute(
                    "select distinct status from marts.fct_mirror_trade"
                ).fetchall()
            ),
        }


def localised(code: str, home: Path) -> str:
    return code.replace(EXAMPLE_HOME, str(home))


def test_every_code_block_of_bi_md_has_a_runner() -> None:
    languages = [m.group(1) for m in _FENCE.finditer(BI_DOC.read_text("utf-8"))]
    assert languages, "no code block found in docs/bi.md"
    assert set(languages) <= RUNNERS, (
        f"docs/bi.md has a code block in {sorted(set(languages) - RUNNERS)}: teach "
        "tests/e2e/test_bi_clients.py to run it"
    )
    assert doc_blocks("bash") and doc_blocks("python") and doc_blocks("text")
    assert doc_blocks("yaml") and doc_blocks("sql")


@pytest.mark.parametrize("version", client_tools.DUCKDB_CLI_VERSIONS)
def test_the_duckdb_cli_examples_run_with_the_pypi_cli(
    version: str, home: Path, published_facts: dict[str, object], tmp_path: Path
) -> None:
    cli = client_tools.duckdb_cli(version)
    env = {**os.environ, "PATH": f"{cli.parent}{os.pathsep}{os.environ['PATH']}"}
    assert shutil.which("duckdb", path=env["PATH"]) == str(cli)
    blocks = [b for b in doc_blocks("bash") if "duckdb" in b and not is_evidence(b)]
    assert blocks
    for block in blocks:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", localised(block, home)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"duckdb-cli {version}:\n{block}\n{proc.stderr}"
        if "fct_mirror_trade group by" in block:  # the status count of the first example
            for status in published_facts["statuses"]:
                assert status in proc.stdout, (status, proc.stdout)
        assert "version number" not in proc.stderr


@pytest.mark.parametrize(
    "client", ["project", client_tools.OLDEST_DUCKDB_PYTHON], ids=lambda c: f"duckdb-{c}"
)
def test_the_python_example_runs(
    client: str, home: Path, published_facts: dict[str, object], tmp_path: Path
) -> None:
    python = sys.executable if client == "project" else client_tools.duckdb_python(client)
    [block] = doc_blocks("python")
    script = tmp_path / "example.py"
    script.write_text(localised(block, home), encoding="utf-8")
    proc = subprocess.run(
        [str(python), str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert str(published_facts["publication_id"]) in proc.stdout
    assert f"[({published_facts['flows']},)]" in proc.stdout  # the Parquet row count


@pytest.mark.parametrize("variant", ["uri", "engine-parameters"])
def test_the_superset_uri_opens_read_only(
    variant: str, home: Path, published_facts: dict[str, object]
) -> None:
    [uri] = [line.strip() for line in doc_blocks("text") if line.startswith("duckdb:")]
    connect_args = {}
    if variant == "engine-parameters":  # the documented alternative: plain URI + connect_args
        uri = uri.split("?")[0]
        connect_args = {"read_only": True}
    engine = sa.create_engine(localised(uri, home), connect_args=connect_args, poolclass=NullPool)
    try:
        with engine.connect() as con:
            flows = con.execute(sa.text("select count(*) from marts.fct_mirror_trade")).scalar()
            assert flows == published_facts["flows"]
            assert con.execute(sa.text("select current_setting('access_mode')")).scalar() == (
                "read_only"
            )
            with pytest.raises(sa.exc.DBAPIError, match=r"read-only|read only"):
                con.execute(sa.text("create table marts.nope as select 1 as x"))
    finally:
        engine.dispose()


EVIDENCE_RUNNER = r"""
const [connector, options, sourceDir, sqlFile] = process.argv.slice(2);
const duck = require(connector);
const fs = require('fs');
(async () => {
  const opts = JSON.parse(options);
  const tested = await duck.testConnection(opts, sourceDir);
  const run = await duck.getRunner(opts, sourceDir);
  const result = await run(fs.readFileSync(sqlFile, 'utf8'), sqlFile, 10000);
  let rows = 0;
  for await (const batch of result.rows()) rows += batch.length;
  console.log(JSON.stringify({
    tested, rows, columns: (result.columnTypes || []).map((c) => c.name),
  }));
})().catch((e) => { console.error(e && e.message ? e.message : String(e)); process.exit(1); });
"""


def test_evidence_reads_the_publication_as_documented(
    home: Path, published_facts: dict[str, object], tmp_path: Path
) -> None:
    """The documented set-up (link, connection.yaml, a source query) through Evidence's own
    connector code: testConnection and a source query, as `npm run sources` runs them."""
    modules = client_tools.evidence_connector() / "node_modules"
    project = tmp_path / "evidence"
    project.mkdir()
    [link_block] = [b for b in doc_blocks("bash") if is_evidence(b)]
    subprocess.run(["bash", "-euo", "pipefail", "-c", localised(link_block, home)],
                   cwd=project, check=True, timeout=30)  # fmt: skip
    source = project / "sources" / "mirror"
    [connection] = doc_blocks("yaml")
    (source / "connection.yaml").write_text(connection, encoding="utf-8")
    config = yaml.safe_load(connection)
    assert config["type"] == "duckdb"
    [query] = doc_blocks("sql")
    (source / "mirror_flows.sql").write_text(query, encoding="utf-8")
    runner = tmp_path / "run_source.cjs"
    runner.write_text(EVIDENCE_RUNNER, encoding="utf-8")
    proc = subprocess.run(
        ["node", str(runner), str(modules / "@evidence-dev" / "duckdb"),
         json.dumps(config["options"]), str(source), str(source / "mirror_flows.sql")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["tested"] is True, result
    assert result["rows"] == published_facts["flows"]
    assert result["columns"][:3] == ["freq", "period", "exporter_iso3"]
    node_api = json.loads(
        (modules / "@duckdb" / "node-api" / "package.json").read_text(encoding="utf-8")
    )
    assert node_api["version"].startswith("1."), node_api["version"]  # a DuckDB 1.x client


def _as_nobody() -> None:
    nobody = pwd.getpwnam("nobody")
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder under the system temp dir that any user may enter (pytest's are root-only)."""
    with tempfile.TemporaryDirectory(prefix="mirror-bi-") as name:
        folder = Path(name)
        os.chmod(folder, 0o777)
        yield folder


def test_what_bi_md_says_of_a_read_write_open_is_true(home: Path, shared_folder: Path) -> None:
    """docs/bi.md: an ordinary user's read-write open fails on the 0444 file; root's succeeds.
    With the DuckDB CLI, on a copy (a read-write open may write to the file) in a folder anyone
    may enter (the CLI is copied there too: the tool cache may be private to root)."""
    text = BI_DOC.read_text("utf-8")
    assert "Root ignores file modes" in text and "Permission denied" in text
    folder = shared_folder
    copy = folder / "mirror.duckdb"
    shutil.copy2(home / "published" / "mirror.duckdb", copy)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o444
    cli = folder / "duckdb"
    shutil.copy2(client_tools.duckdb_cli_binary(client_tools.DUCKDB_CLI_VERSIONS[-1]), cli)
    read_write = [str(cli), str(copy), "select count(*) from main.publication"]

    def open_read_write(**kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            read_write, capture_output=True, text=True, timeout=60, check=False, cwd=folder,
            env={"PATH": "/usr/bin:/bin", "HOME": str(folder)}, **kwargs,
        )  # fmt: skip

    as_me = open_read_write()
    if os.geteuid() == 0:
        assert as_me.returncode == 0, as_me.stderr  # root: the file mode does not stop it
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            pytest.skip("no user `nobody` to try an ordinary user's open")
        as_user = open_read_write(preexec_fn=_as_nobody)
    else:
        as_user = as_me
    assert as_user.returncode != 0 and "Permission denied" in as_user.stderr, as_user.stderr
