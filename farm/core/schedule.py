"""Longest-expected-first scheduling of matrix cells onto the Grid's sessions (farm.core.capacity).

Pure logic: expected durations (measured ones, with estimates for unseen cells), the dispatch order,
the predicted makespan of list scheduling, the lower bound, and the split into CI shards. The xdist
adapter that applies the order at run time lives in farm.plugin.controller.dispatch.
"""

from __future__ import annotations

import heapq
import json
import statistics
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from farm.core.capacity import Capacity
from farm.core.errors import UsageError
from farm.core.matrix import Cell
from farm.core.runfolder import write_json_atomic

DEFAULT_ESTIMATE = 5.0  # seconds, for a suite with no measured durations at all
Key = tuple[str, str]  # (test id, browser)


def per_test(measured: Mapping[Key, float]) -> dict[str, dict[str, float]]:
    """test id -> {browser: seconds}: measured durations as the comparisons between browsers read it."""
    by_test: dict[str, dict[str, float]] = defaultdict(dict)
    for (test_id, browser), seconds in measured.items():
        by_test[test_id][browser] = seconds
    return by_test


def browser_ratios(measured: Mapping[Key, float]) -> dict[tuple[str, str], float]:
    """Median duration ratio of browser a to browser b over tests measured on both."""
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    for durations in per_test(measured).values():
        for a, da in durations.items():
            for b, db in durations.items():
                if a != b and db > 0:
                    samples[(a, b)].append(da / db)
    return {pair: statistics.median(values) for pair, values in samples.items()}


def relative_costs(measured: Mapping[Key, float], browsers: Sequence[str]) -> dict[str, float]:
    """Each browser's work against the first one's: the total over the tests measured on
    both, 1.0 where there are none. The matrix gives every browser the same tests, so this ranks
    the browsers by their work before anything is collected. Totals, not browser_ratios' median:
    with kept sessions a browser's opens land on a few first cells, and Firefox's did 11 % more
    work than Chrome while its median cell was 10 % cheaper."""
    first = browsers[0] if browsers else ""
    by_test = per_test(measured).values()
    costs: dict[str, float] = {}
    for browser in browsers:
        both = [seen for seen in by_test if browser in seen and first in seen]
        base = sum(seen[first] for seen in both)
        costs[browser] = sum(seen[browser] for seen in both) / base if base > 0 else 1.0
    return costs


def expected_durations(cells: Iterable[Cell], measured: Mapping[Key, float]) -> dict[str, float]:
    """Seconds expected per cell node id.

    Measured cells use their measured seconds. An unseen cell takes the same test's time on another browser
    scaled by the two browsers' measured ratio; failing that, the median of its browser's known
    cells, then of the whole suite, then DEFAULT_ESTIMATE.
    """
    cells = list(cells)
    ratios = browser_ratios(measured)
    by_test = per_test(measured)
    by_browser: dict[str, list[float]] = defaultdict(list)
    present = {c.test_id for c in cells}
    for (test_id, browser), seconds in measured.items():
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
    """A predicted assignment: the cells with start and end times, per browser."""

    makespan: float = 0.0
    starts: dict[str, list[tuple[float, float, str]]] = field(default_factory=dict)


def as_capacity(capacity: Capacity | Mapping[str, int]) -> Capacity:
    """Slots per browser alone mean nodes of one browser each."""
    return capacity if isinstance(capacity, Capacity) else Capacity.per_browser(capacity)


def simulate(
    cells: Iterable[Cell], expected: Mapping[str, float], capacity: Capacity | Mapping[str, int], first: frozenset[str] = frozenset()
) -> Timeline:
    """List scheduling in dispatch order: whenever a session frees, the first pending cell whose
    browser has a slot and whose pool a session starts (what the dispatcher does at run time).
    Per-browser queues and counters keep it O(cells x browsers), so every worker can afford it."""
    capacity = as_capacity(capacity)
    order = longest_first(cells, expected, first)
    rank = {cell.nodeid: i for i, cell in enumerate(order)}
    queues: dict[str, deque[Cell]] = defaultdict(deque)
    for cell in order:
        queues[cell.browser].append(cell)
    pools = {browser: capacity.pool_of(browser) for browser in queues}
    per_browser: Counter[str] = Counter()
    per_pool: Counter[frozenset[str]] = Counter()
    ends: list[tuple[float, str]] = []
    timeline, now = Timeline(), 0.0

    def room(browser: str) -> bool:
        pool = pools[browser]
        within = per_browser[browser] < max(1, capacity.slots.get(browser, 1)) and per_pool[pool.browsers] < max(1, pool.sessions)
        return within and capacity.within_cap(sum(per_browser.values()))

    while any(queues.values()):
        ready = [b for b, queue in queues.items() if queue and room(b)]
        if ready:
            cell = queues[min(ready, key=lambda b: rank[queues[b][0].nodeid])].popleft()
            end = now + expected[cell.nodeid]
            heapq.heappush(ends, (end, cell.browser))
            per_browser[cell.browser] += 1
            per_pool[pools[cell.browser].browsers] += 1
            timeline.starts.setdefault(cell.browser, []).append((now, end, cell.nodeid))
            timeline.makespan = max(timeline.makespan, end)
        elif ends:
            now, browser = heapq.heappop(ends)
            per_browser[browser] -= 1
            per_pool[pools[browser].browsers] -= 1
        else:  # pragma: no cover - a queued browser always has room once nothing runs
            break
    return timeline


def lower_bound(cells: Iterable[Cell], durations: Mapping[str, float], capacity: Capacity | Mapping[str, int]) -> float:
    """No schedule beats, for any pool: its longest cell, its work over its sessions, and each of its
    browsers' work over that browser's slots. With one browser per node this is max over browsers
    of max(longest cell, work / slots); with shared nodes the pool's sessions are the divisor."""
    capacity = as_capacity(capacity)
    work: dict[str, list[float]] = defaultdict(list)
    for cell in cells:
        work[cell.browser].append(durations[cell.nodeid])
    bound = 0.0
    for browser, seconds in work.items():
        pool = capacity.pool_of(browser)
        pooled = sum(sum(work.get(b, [])) for b in pool.browsers)
        bound = max(bound, max(seconds), sum(seconds) / max(1, capacity.slots.get(browser, 1)), pooled / max(1, pool.sessions))
    if capacity.cells:
        bound = max(bound, sum(sum(seconds) for seconds in work.values()) / capacity.cells)
    return bound


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
    """What the dispatcher needs at run time: the capacity model and every cell's expected seconds."""

    capacity: Capacity
    cells: dict[str, dict[str, float | str]]  # nodeid -> {"browser": ..., "expected": ...}
    predicted_makespan: float = 0.0
    estimated: bool = False  # nothing measured for this suite: every duration is DEFAULT_ESTIMATE

    @property
    def slots(self) -> dict[str, int]:
        return self.capacity.slots

    @classmethod
    def build(
        cls,
        cells: list[Cell],
        expected: Mapping[str, float],
        capacity: Capacity | Mapping[str, int],
        estimated: bool = False,
        first: frozenset[str] = frozenset(),
    ) -> Plan:
        """`first`: node ids dispatched before all others (--failed-first), longest first among them."""
        capacity = as_capacity(capacity)
        timeline = simulate(cells, expected, capacity, first)
        return cls(
            capacity=capacity,
            cells={
                c.nodeid: {
                    "browser": c.browser,
                    "test_id": c.test_id,
                    "expected": round(expected[c.nodeid], 3),
                    "first": c.nodeid in first,
                    **({"group": c.group} if c.group else {}),
                }
                for c in cells
            },
            predicted_makespan=timeline.makespan,
            estimated=estimated,
        )

    def planned_cells(self) -> list[Cell]:
        return [Cell(nodeid, str(c["test_id"]), str(c["browser"]), str(c.get("group", ""))) for nodeid, c in self.cells.items()]

    def to_json(self) -> dict[str, object]:
        return {
            "capacity": self.capacity.to_json(),
            "cells": self.cells,
            "predicted_makespan": self.predicted_makespan,
            "estimated": self.estimated,
        }

    def dump(self, path: Path) -> None:
        write_json_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> Plan:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            capacity=Capacity.from_json(raw["capacity"]),
            cells=raw["cells"],
            predicted_makespan=raw.get("predicted_makespan", 0.0),
            estimated=raw.get("estimated", False),
        )


@dataclass
class Planning:
    """What `farm test` decides before pytest starts, so the run can plan from its one collection:
    the Grid's capacity, a snapshot of the measured durations (every worker must shard alike, whatever another
    run writes meanwhile), the cells that failed last time (--failed-first) and the shard."""

    capacity: Capacity
    measured: dict[Key, float] = field(default_factory=dict)
    failed: frozenset[Key] = frozenset()
    shard: tuple[int, int] | None = None
    browserless: frozenset[str] = frozenset()  # test ids that opened no browser last time: run once

    def plan(self, collected: list[Cell]) -> Plan:
        """The run's plan for what pytest collected: this shard's cells, longest expected first.
        A test that opened no browser in its last run is one cell (its first browser's), marked so."""
        collected = once_if_browserless(collected, self.browserless)
        expected = expected_durations(collected, self.measured)
        cells = shard(collected, expected, *self.shard) if self.shard else collected
        first = frozenset(c.nodeid for c in cells if (c.test_id, c.browser) in self.failed)
        estimated = not any(test_id in {c.test_id for c in cells} for test_id, _ in self.measured)
        plan = Plan.build(cells, expected, self.capacity, estimated=estimated, first=first)
        for cell in plan.cells.values():
            if cell["test_id"] in self.browserless:
                cell["browserless"] = True
            if (cell["test_id"], cell["browser"]) not in self.measured:
                cell["guess"] = True  # its expected seconds come from other cells or DEFAULT_ESTIMATE
        return plan

    def dump(self, path: Path) -> None:
        write_json_atomic(
            path,
            {
                "capacity": self.capacity.to_json(),
                "measured": [[t, b, s] for (t, b), s in sorted(self.measured.items())],
                "failed": sorted(self.failed),
                "shard": list(self.shard) if self.shard else None,
                "browserless": sorted(self.browserless),
            },
        )

    @classmethod
    def load(cls, path: Path) -> Planning:
        raw = json.loads(path.read_text(encoding="utf-8"))
        shard_ = raw.get("shard")
        return cls(
            capacity=Capacity.from_json(raw["capacity"]),
            measured={(str(t), str(b)): float(s) for t, b, s in raw.get("measured", [])},
            failed=frozenset((str(t), str(b)) for t, b in raw.get("failed", [])),
            shard=(int(shard_[0]), int(shard_[1])) if shard_ else None,
            browserless=frozenset(str(t) for t in raw.get("browserless", [])),
        )


def once_if_browserless(cells: list[Cell], browserless: frozenset[str]) -> list[Cell]:
    """Each browserless test's first collected cell only; every other cell as collected."""
    seen: set[str] = set()
    kept = []
    for cell in cells:
        if cell.test_id in browserless:
            if cell.test_id in seen:
                continue
            seen.add(cell.test_id)
        kept.append(cell)
    return kept


def revised_makespan(plan: Plan, finished: Mapping[str, float]) -> float:
    """The plan's makespan again with what the run measured so far: finished cells take the seconds
    they took, and cells planned on a guess take what the finished ones suggest (expected_durations:
    the same test on another browser, else its browser's median, else the suite's). Before any
    history every cell is a guess of DEFAULT_ESTIMATE, which was off by 2x on a public suite (270 s
    predicted, 593 s taken); this improves with every cell that finishes."""
    cells = plan.planned_cells()
    measured = {(c.test_id, c.browser): finished[c.nodeid] for c in cells if c.nodeid in finished}
    if not measured:
        return plan.predicted_makespan
    suggested = expected_durations(cells, measured)
    expected = {}
    for cell in cells:
        planned = plan.cells[cell.nodeid]
        guess = bool(planned.get("guess", plan.estimated))
        expected[cell.nodeid] = finished.get(cell.nodeid, suggested[cell.nodeid] if guess else float(planned["expected"]))
    return simulate(cells, expected, plan.capacity).makespan


def parse_shard(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 1 <= int(index) <= int(count):
        raise UsageError(f"malformed --shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/4")
    return int(index), int(count)
