"""Longest-expected-first scheduling of matrix cells onto per-browser session slots.

Pure logic: expected durations (from history, with estimates for unseen cells), the dispatch order,
the predicted makespan of list scheduling, the lower bound, and the split into CI shards. The xdist
adapter that applies the order at run time lives in farm.dispatch.
"""

from __future__ import annotations

import heapq
import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from farm.errors import UsageError
from farm.matrix import Cell

DEFAULT_ESTIMATE = 5.0  # seconds, for a suite with no history at all
Key = tuple[str, str]  # (test id, browser)


def browser_ratios(history: Mapping[Key, float]) -> dict[tuple[str, str], float]:
    """Median duration ratio of browser a to browser b over tests measured on both."""
    by_test: dict[str, dict[str, float]] = defaultdict(dict)
    for (test_id, browser), seconds in history.items():
        by_test[test_id][browser] = seconds
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    for durations in by_test.values():
        for a, da in durations.items():
            for b, db in durations.items():
                if a != b and db > 0:
                    samples[(a, b)].append(da / db)
    return {pair: statistics.median(values) for pair, values in samples.items()}


def expected_durations(cells: Iterable[Cell], history: Mapping[Key, float]) -> dict[str, float]:
    """Seconds expected per cell node id.

    Measured cells use their history. An unseen cell takes the same test's time on another browser
    scaled by the two browsers' measured ratio; failing that, the median of its browser's known
    cells, then of the whole suite, then DEFAULT_ESTIMATE.
    """
    cells = list(cells)
    ratios = browser_ratios(history)
    by_test: dict[str, dict[str, float]] = defaultdict(dict)
    by_browser: dict[str, list[float]] = defaultdict(list)
    present = {c.test_id for c in cells}
    for (test_id, browser), seconds in history.items():
        by_test[test_id][browser] = seconds
        if test_id in present:
            by_browser[browser].append(seconds)
    suite = [s for values in by_browser.values() for s in values]
    expected: dict[str, float] = {}
    for cell in cells:
        seen = by_test.get(cell.test_id, {})
        if cell.browser in seen:
            expected[cell.nodeid] = seen[cell.browser]
        elif seen:
            with_ratio = sorted(b for b in seen if (cell.browser, b) in ratios)
            other = with_ratio[0] if with_ratio else sorted(seen)[0]
            expected[cell.nodeid] = seen[other] * ratios.get((cell.browser, other), 1.0)
        elif by_browser.get(cell.browser):
            expected[cell.nodeid] = statistics.median(by_browser[cell.browser])
        elif suite:
            expected[cell.nodeid] = statistics.median(suite)
        else:
            expected[cell.nodeid] = DEFAULT_ESTIMATE
    return expected


def longest_first(cells: Iterable[Cell], expected: Mapping[str, float], first: frozenset[str] = frozenset()) -> list[Cell]:
    """Dispatch order: the `first` cells (--failed-first), then longest expected first; ties by node
    id so the order is reproducible."""
    return sorted(cells, key=lambda c: (c.nodeid not in first, -expected[c.nodeid], c.nodeid))


@dataclass
class Timeline:
    """A predicted or measured assignment: per (browser, slot) the cells with start times."""

    makespan: float = 0.0
    slots: dict[tuple[str, int], list[tuple[float, float, str]]] = field(default_factory=dict)


def simulate(
    cells: Iterable[Cell], expected: Mapping[str, float], slots: Mapping[str, int], first: frozenset[str] = frozenset()
) -> Timeline:
    """List scheduling in dispatch order, each cell to the first free slot of its browser."""
    timeline = Timeline()
    by_browser: dict[str, list[Cell]] = defaultdict(list)
    for cell in longest_first(cells, expected, first):
        by_browser[cell.browser].append(cell)
    for browser, queue in by_browser.items():
        free = [(0.0, i) for i in range(max(1, slots.get(browser, 1)))]
        heapq.heapify(free)
        for cell in queue:
            start, slot = heapq.heappop(free)
            end = start + expected[cell.nodeid]
            timeline.slots.setdefault((browser, slot), []).append((start, end, cell.nodeid))
            timeline.makespan = max(timeline.makespan, end)
            heapq.heappush(free, (end, slot))
    return timeline


def lower_bound(cells: Iterable[Cell], durations: Mapping[str, float], slots: Mapping[str, int]) -> float:
    """No schedule beats max over browsers of max(longest cell, total work / slots)."""
    work: dict[str, list[float]] = defaultdict(list)
    for cell in cells:
        work[cell.browser].append(durations[cell.nodeid])
    return max((max(max(d), sum(d) / max(1, slots.get(b, 1))) for b, d in work.items() if d), default=0.0)


def shard(cells: Iterable[Cell], expected: Mapping[str, float], index: int, count: int) -> list[Cell]:
    """Part `index` (1-based) of `count` parts with balanced expected work; the parts partition the matrix.

    Greedy longest-first into the least-loaded part, per browser, so every part gets a fair share
    of each browser's work and no part is stuck with all of one browser's slots idle.
    """
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: index must be from 1 to {count}")
    parts: list[list[Cell]] = [[] for _ in range(count)]
    by_browser: dict[str, list[Cell]] = defaultdict(list)
    for cell in longest_first(cells, expected):
        by_browser[cell.browser].append(cell)
    load = [0.0] * count
    for browser in sorted(by_browser):
        for cell in by_browser[browser]:
            target = min(range(count), key=lambda i: (load[i], len(parts[i]), i))
            parts[target].append(cell)
            load[target] += expected[cell.nodeid]
    return parts[index - 1]


@dataclass
class Plan:
    """What the dispatcher needs at run time, handed to the pytest controller as a JSON file."""

    slots: dict[str, int]
    cells: dict[str, dict[str, float | str]]  # nodeid -> {"browser": ..., "expected": ...}
    predicted_makespan: float = 0.0
    estimated: bool = False  # no history for this suite: every duration is DEFAULT_ESTIMATE

    @classmethod
    def build(
        cls,
        cells: list[Cell],
        expected: Mapping[str, float],
        slots: Mapping[str, int],
        estimated: bool = False,
        first: frozenset[str] = frozenset(),
    ) -> Plan:
        """`first`: node ids dispatched before all others (--failed-first), longest first among them."""
        timeline = simulate(cells, expected, slots, first)
        return cls(
            slots=dict(slots),
            cells={
                c.nodeid: {"browser": c.browser, "test_id": c.test_id, "expected": round(expected[c.nodeid], 3), "first": c.nodeid in first}
                for c in cells
            },
            predicted_makespan=timeline.makespan,
            estimated=estimated,
        )

    def dump(self, path: Path) -> None:
        data = {"slots": self.slots, "cells": self.cells, "predicted_makespan": self.predicted_makespan, "estimated": self.estimated}
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Plan:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            slots=raw["slots"],
            cells=raw["cells"],
            predicted_makespan=raw.get("predicted_makespan", 0.0),
            estimated=raw.get("estimated", False),
        )


def parse_shard(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 1 <= int(index) <= int(count):
        raise UsageError(f"malformed --shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/4")
    return int(index), int(count)
