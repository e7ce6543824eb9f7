"""The documentation a user reads matches the product: every setting and
environment variable with its real default, a README short enough to read,
its commands the ones CI runs, and a docs site that builds without a broken
link."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from watchkeeper.config import Settings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
README = ROOT / "README.md"
ROW = re.compile(r"^\|\s*`(WATCHKEEPER_[A-Z0-9_]+)`\s*\|\s*([^|]*?)\s*\|", re.MULTILINE)
VARIABLE = re.compile(r"\bWATCHKEEPER_[A-Z][A-Z0-9_]*\b")


def documented() -> dict[str, str]:
    """Each variable in a table of docs/configuration.md, with its default as written."""
    return {name: default.strip("`") for name, default in ROW.findall(CONFIGURATION.read_text())}


def as_written(value: object) -> str:
    """A default as the configuration page writes it."""
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def variables_in_src() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        found.update(VARIABLE.findall(path.read_text()))
    return found


def sh_block(markdown: str, heading: str) -> str:
    """The first ```sh block under a `## heading` of a Markdown text."""
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)\n```", section, re.DOTALL)
    assert match, f"no sh block under '## {heading}'"
    return match.group(1).strip()


def test_every_setting_is_documented_with_its_default() -> None:
    docs = documented()
    for name, field in Settings.model_fields.items():
        variable = f"WATCHKEEPER_{name.upper()}"
        assert variable in docs, f"{variable} is a setting missing from docs/configuration.md"
        assert docs[variable] == as_written(field.default), (
            f"docs/configuration.md gives {variable} the default {docs[variable]!r}; it is {as_written(field.default)!r}"
        )


def test_every_variable_read_in_src_is_documented() -> None:
    missing = sorted(variables_in_src() - documented().keys())
    assert not missing, f"used in src but missing from docs/configuration.md: {', '.join(missing)}"


def test_nothing_is_documented_that_is_no_variable() -> None:
    known = {f"WATCHKEEPER_{name.upper()}" for name in Settings.model_fields} | variables_in_src()
    stale = sorted(documented().keys() - known)
    assert not stale, f"docs/configuration.md documents variables nothing reads: {', '.join(stale)}"


def test_every_variable_the_docs_name_is_one_watchkeeper_reads() -> None:
    known = documented().keys()
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        unknown = sorted(set(VARIABLE.findall(page.read_text())) - known)
        assert not unknown, f"{page.relative_to(ROOT)} names {', '.join(unknown)}, which no setting or part reads"


def test_the_documented_test_database_is_the_one_the_tests_use() -> None:
    default = documented()["WATCHKEEPER_TEST_PG_URL"]
    assert f'"WATCHKEEPER_TEST_PG_URL", "{default}"' in (ROOT / "tests" / "conftest.py").read_text()


def test_readme_stays_under_250_lines() -> None:
    lines = len(README.read_text().splitlines())
    assert lines < 250, f"README.md has {lines} lines; move reference material to docs/"


def test_the_readme_test_command_is_what_ci_runs() -> None:
    command = sh_block(README.read_text(), "Run the tests")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command == "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"
    runs = [line for line in ci if line == command or line.startswith((f"{command} &&", f"{command};"))]
    assert runs, ".ci/run no longer runs the README's test command"


def test_the_readme_demo_command_installs_as_ci_does_and_runs_the_demo() -> None:
    command = sh_block(README.read_text(), "Run the demo")
    assert command == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/watchkeeper demo"
    assert "python3 -m venv .venv && .venv/bin/pip install -e " in (ROOT / ".ci" / "run").read_text()
    done = subprocess.run(
        [sys.executable, "-m", "watchkeeper", "demo", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_docs_site_builds_strictly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").exists()
