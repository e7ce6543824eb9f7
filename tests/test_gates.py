"""The code's own gates, run with the tests so a change that breaks one fails where it was made:
ruff's lint rules and its format, and mypy in strict mode over the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", "src", "tests", "bench"),
        ("ruff", "format", "--check", "src", "tests", "bench"),
        ("mypy", "--strict", "src"),
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_the_code_passes_its_gate(command):
    done = _run(str(BIN / command[0]), *command[1:])
    assert done.returncode == 0, done.stdout + done.stderr
