"""The matrix: every selected test x every selected browser, one cell each.

A cell is keyed by its pytest node id (which carries the browser as a parameter) and knows the
browser-independent test id, so durations can be compared across browsers.
"""

from __future__ import annotations

from dataclasses import dataclass


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
