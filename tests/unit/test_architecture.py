"""The package's folders say which process a module runs in, and this test keeps them honest.

    farm/core/               pure: no Docker, network, subprocess or browser library; any process
    farm/infra/              Docker engines, the swarm, images, the Grid client, Grid sessions
    farm/run/                the runner side of `farm test`, `farm report` and `farm calibrate`
    farm/cli/                the `farm` command: parses, calls one function, prints
    farm/plugin/             the pytest plugin: the entry point (inert) and the matrix both sides share
    farm/plugin/controller/  pytest's controller process: the scheduler and the xdist adapter
    farm/plugin/worker/      the xdist workers: sessions, browsers, console, isolation, recording
    farm/resources/          files farm ships (image recipes, Grid templates, the demo suite)

Read from the source (ast), so it holds for imports inside functions too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "farm"
# which farm layers a layer may import (besides itself and the package's own `farm` root: __version__)
MAY_IMPORT = {
    "core": set(),
    "resources": set(),
    "infra": {"core", "resources"},
    "run": {"core", "infra", "resources"},
    "cli": {"core", "infra", "run", "resources"},
    "plugin": {"core", "infra", "plugin.controller", "plugin.worker"},
    "plugin.controller": {"core", "infra", "plugin"},
    "plugin.worker": {"core", "infra", "plugin"},
}
PURE_FORBIDDEN = ("docker", "requests", "urllib3", "selenium", "proxy", "subprocess", "socket", "http", "allure", "xdist", "rich")
ROOT_MODULES = {"__init__", "__main__"}


def layer_of(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package).parts[:-1]
    return ".".join(parts[:2]) if parts[:1] == ("plugin",) else ".".join(parts[:1])


def module_name(path: Path, package: Path = PACKAGE) -> str:
    return ".".join(("farm", *path.relative_to(package).with_suffix("").parts)).removesuffix(".__init__")


def modules() -> list[Path]:
    """farm's own modules: not the files it ships (farm/resources/docker, grid, demo)."""
    shipped = {PACKAGE / "resources" / name for name in ("docker", "grid", "demo")}
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts and not shipped & set(p.parents))


def layer_of_name(name: str) -> str | None:
    """The layer of an imported farm module (`farm.infra.grid` -> infra); None for the root."""
    parts = name.split(".")[1:]
    if not parts or parts[0] in ROOT_MODULES or parts[0] == "__version__":
        return None
    return ".".join(parts[:2]) if parts[0] == "plugin" and len(parts) > 1 and parts[1] in ("controller", "worker") else parts[0]


def is_module(name: str, root: Path) -> bool:
    path = root.joinpath(*name.split(".")[1:])
    return path.with_suffix(".py").is_file() or path.is_dir()


def imports_of(path: Path, root: Path = PACKAGE) -> set[str]:
    names: set[str] = set()
    package = module_name(path, root).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path, root)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names if base.startswith("farm") and is_module(f"{base}.{a.name}", root))
    return {n for n in names if n}


def test_every_module_lives_in_a_layer():
    strays = [str(p.relative_to(PACKAGE)) for p in modules() if p.parent == PACKAGE and p.stem not in ROOT_MODULES]
    assert strays == [], "a module directly under farm/ runs nowhere in particular: put it in a layer"
    assert {layer_of(p) for p in modules() if p.parent != PACKAGE} == set(MAY_IMPORT)


def violations(path: Path, package: Path = PACKAGE) -> list[str]:
    """What `path` imports that its layer may not."""
    layer, found = layer_of(path, package), []
    for name in imports_of(path, package):
        if name.split(".")[0] != "farm":
            if layer == "core" and name.split(".")[0] in PURE_FORBIDDEN:
                found.append(f"{module_name(path, package)} is pure but imports {name}")
            continue
        target = layer_of_name(name)
        if target is None or target == layer or (target == "plugin" and layer.startswith("plugin")):
            continue
        if target not in MAY_IMPORT[layer]:
            found.append(f"{module_name(path, package)} ({layer}) imports {name} ({target})")
    return found


@pytest.mark.parametrize("path", [p for p in modules() if p.parent != PACKAGE], ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_layer_imports_only_what_it_may(path):
    assert violations(path) == []


def test_the_rules_catch_an_upward_import_and_a_boundary_in_the_core(tmp_path):
    """The check itself, on modules that import what their layer may not."""
    (tmp_path / "core").mkdir()
    (tmp_path / "plugin" / "worker").mkdir(parents=True)
    upward = tmp_path / "core" / "probe.py"
    upward.write_text("import socket\n\ndef f():\n    from farm.infra.grid import GridClient\n")
    sideways = tmp_path / "plugin" / "worker" / "probe.py"
    sideways.write_text("from ..controller import dispatch\nfrom farm.core import errors\n")
    (tmp_path / "infra" / "grid.py").parent.mkdir()
    (tmp_path / "infra" / "grid.py").write_text("")
    assert sorted(violations(upward, tmp_path)) == [
        "farm.core.probe (core) imports farm.infra.grid (infra)",
        "farm.core.probe is pure but imports socket",
    ]
    assert violations(sideways, tmp_path) == ["farm.plugin.worker.probe (plugin.worker) imports farm.plugin.controller (plugin.controller)"]


def test_the_plugin_entry_point_imports_nothing_from_selenium():
    """Installing farm must not break plain pytest whatever selenium a suite pins (or none)."""
    code = "import sys, farm.plugin; print(sorted(m for m in sys.modules if m.split('.')[0] in ('selenium', 'allure', 'docker', 'xdist')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
