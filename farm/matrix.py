"""The matrix: every selected test x every selected browser, one cell each.

A cell is keyed by its pytest node id (which carries the browser as a parameter) and knows the
browser-independent test id, so durations can be compared across browsers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Cell:
    nodeid: str
    test_id: str
    browser: str


def base_test_id(nodeid: str, param_ids: list[str], browser_index: int) -> str:
    """The node id with the browser's parameter id taken out (`t.py::test[1-chrome]` -> `t.py::test[1]`)."""
    head, bracket, _ = nodeid.partition("[")
    if not bracket:
        return nodeid
    rest = [pid for i, pid in enumerate(param_ids) if i != browser_index]
    return f"{head}[{'-'.join(rest)}]" if rest else head


@dataclass
class Matrix:
    cells: list[Cell]

    @property
    def browsers(self) -> list[str]:
        return sorted({c.browser for c in self.cells})

    @property
    def test_ids(self) -> set[str]:
        return {c.test_id for c in self.cells}

    def for_browser(self, browser: str) -> list[Cell]:
        return [c for c in self.cells if c.browser == browser]

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps([asdict(c) for c in self.cells], indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Matrix:
        return cls([Cell(**raw) for raw in json.loads(path.read_text(encoding="utf-8"))])
