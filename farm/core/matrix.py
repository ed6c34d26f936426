"""The matrix: every selected test x every selected browser, one cell each.

A cell is keyed by its pytest node id (which carries the browser as a parameter) and knows the
browser-independent test id, so durations can be compared across browsers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Cell:
    nodeid: str
    test_id: str
    browser: str
    group: str = ""  # `@pytest.mark.xdist_group(name)`: cells of one group never run at the same time


def base_test_id(nodeid: str, param_ids: list[str], browser_index: int) -> str:
    """The node id with the browser's parameter id taken out (`t.py::test[1-chrome]` -> `t.py::test[1]`)."""
    head, bracket, _ = nodeid.partition("[")
    if not bracket:
        return nodeid
    rest = [pid for i, pid in enumerate(param_ids) if i != browser_index]
    return f"{head}[{'-'.join(rest)}]" if rest else head


def cell_from(nodeid: str, params: Mapping[str, object], ids: Sequence[str]) -> Cell:
    """The cell of a collected test: its browser is the `browser_name` parameter, and its test id is
    the node id without the browser's part of the parameter ids."""
    browser = str(params.get("browser_name", ""))
    index = max((i for i, pid in enumerate(ids) if pid == browser), default=-1)
    if index >= 0:
        return Cell(nodeid, base_test_id(nodeid, list(ids), index), browser)
    return Cell(nodeid, re.sub(rf"-?{re.escape(browser)}\]$", "]", nodeid).replace("[]", "") if browser else nodeid, browser)
