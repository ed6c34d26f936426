"""The pure core imports no boundary: no Docker, network, subprocess or browser library, and no farm
module that does. Read from the source (ast), so it holds for imports inside functions too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "farm"
PURE = (
    "capacity",
    "catalogue",
    "config",
    "errors",
    "labels",
    "matrix",
    "schedule",
    "history",
    "results",
    "failures",
    "runfolder",
    "report_files",
    "watchdog",
    "flakiness",
)
FORBIDDEN = ("docker", "requests", "urllib3", "selenium", "proxy", "subprocess", "socket", "http", "allure", "xdist")


def imports_of(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "farm":  # `from farm import x`: x may be a module or a name (__version__)
                names.update(f"farm.{alias.name}" for alias in node.names if (PACKAGE / f"{alias.name}.py").exists())
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_boundary(module):
    for name in imports_of(module):
        top = name.split(".")[0]
        assert top not in FORBIDDEN, f"farm.{module} imports {name}"
        if top == "farm" and name != "farm":
            assert name.split(".")[1] in PURE, f"farm.{module} imports the boundary module {name}"


def test_the_plugin_entry_point_imports_nothing_from_selenium():
    """Installing farm must not break plain pytest whatever selenium a suite pins (or none)."""
    code = "import sys, farm.plugin; print(sorted(m for m in sys.modules if m.split('.')[0] in ('selenium', 'allure', 'docker')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
