"""The files farm ships beside its code: image recipes (`docker/`), Grid templates (`grid/`) and the
demo suite (`suites/demo/`), read with importlib.resources wherever farm is installed.

In this repository the three are links to the top-level folders, so the repository keeps its
layout and the wheel and sdist carry copies (pyproject.toml's package data). Nothing reads them
relative to a checkout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

FOLDERS = ("docker", "grid", "demo")


def folder(name: str) -> Path:
    """One of FOLDERS as a path on disk (Docker build contexts and pytest need real files)."""
    if name not in FOLDERS:
        raise ValueError(f"farm ships no folder {name!r}")
    path = Path(str(files(__name__) / name))
    if not path.is_dir():  # a zipped install, or a package built without its data
        raise FileNotFoundError(f"farm's {name}/ files are missing from {path.parent}; reinstall farm from its wheel or sdist")
    return path
