"""The layers hold: lint-imports keeps every contract in pyproject.toml, and
no function imports a higher layer lazily, where an upward edge would hide."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "watchkeeper"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LAYERS = next(c for c in CONFIG["contracts"] if c["type"] == "layers")


def layer_ranks() -> dict[str, int]:
    """Each module the layers contract names, with its layer's height (0: the core)."""
    ranks = {}
    for height, layer in enumerate(reversed(LAYERS["layers"])):
        for name in re.split(r"[|:]", layer):
            ranks[name.strip().strip("()")] = height
    return ranks


RANKS = layer_ranks()
IGNORED = {tuple(part.strip() for part in line.split("->")) for line in LAYERS.get("ignore_imports", [])}


def layer_of(module: str) -> int | None:
    """The height of the layer `module` belongs to: that of the longest name in the contract it starts with."""
    if module == "watchkeeper":  # the package itself: its version
        return 0
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        if ".".join(parts[:end]) in RANKS:
            return RANKS[".".join(parts[:end])]
    return None


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(SOURCE.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def lazy_imports(source: str) -> list[tuple[str, int]]:
    """The watchkeeper modules imported inside a function, with their lines."""
    found: list[tuple[str, int]] = []
    functions = [f for f in ast.walk(ast.parse(source)) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)]
    inside = {id(node): node for function in functions for node in ast.walk(function)}  # once, however deep
    for node in inside.values():
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "watchkeeper":  # from watchkeeper import cli
                found += [(f"watchkeeper.{alias.name}", node.lineno) for alias in node.names]
            elif node.module.startswith("watchkeeper."):
                found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("watchkeeper.")]
    return sorted(found, key=lambda item: item[1])


def upward_lazy_imports(module: str, source: str) -> list[str]:
    """The imports inside functions of `module` that reach a higher layer, as 'importer -> imported (l.N)'."""
    height = layer_of(module)
    assert height is not None, f"{module} is in no layer of [tool.importlinter]: give it one"
    upward = []
    for imported, line in lazy_imports(source):
        target = layer_of(imported)
        if target is not None and target > height and (module, imported) not in IGNORED:
            upward.append(f"{module} -> {imported} (l.{line})")
    return upward


def modules() -> list[Path]:
    # Alembic runs the migration scripts by path; they are no modules of the package.
    return sorted(p for p in SOURCE.rglob("*.py") if "migrations" not in p.relative_to(SOURCE).parts)


def test_lint_imports_keeps_every_contract():
    program = Path(sys.executable).parent / "lint-imports"
    if not program.exists():
        pytest.fail(f"no {program}: install the test extra (pip install -e '.[test]')")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SOURCE.parent), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [str(program), "--no-cache", "--no-logo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_module_belongs_to_a_layer():
    assert [module_name(p) for p in modules() if layer_of(module_name(p)) is None] == []


def test_no_function_imports_a_higher_layer():
    upward = [line for path in modules() for line in upward_lazy_imports(module_name(path), path.read_text())]
    assert upward == []


def test_a_lazy_import_of_a_higher_layer_is_found():
    source = (
        "from watchkeeper.alerts.service import record_all\n"  # at the top: lint-imports' business
        "def ingest():\n"
        "    from watchkeeper.finding import Finding\n"  # lower: allowed
        "    from watchkeeper.feeds import model\n"  # the same layer: allowed
        "    def hand_over():\n"
        "        from watchkeeper.alerts.service import record_all\n"
        "        import watchkeeper.support.service\n"
        "    return hand_over\n"
    )
    assert upward_lazy_imports("watchkeeper.feeds.ingest", source) == [
        "watchkeeper.feeds.ingest -> watchkeeper.alerts.service (l.6)",
        "watchkeeper.feeds.ingest -> watchkeeper.support.service (l.7)",
    ]
