"""Grid capacity: how many sessions of which browsers can run at once, as the Grid offers them.

A node offers slots per browser (its stereotypes) and runs at most `max-sessions` of them at once.
The farm's default nodes serve one browser each, so each browser's slots are its own. A node that
serves several browsers from one `max-sessions` (farm's `capacity = "shared"` nodes, or any Grid
node with several driver configurations) makes one pool: when one browser's cells run out, its
sessions serve the browsers still queued.

Pure logic (no Docker, no network): built from the Grid's node list, read by the schedule and the
dispatcher alike, so the order, the predicted makespan, the lower bound and the run follow the
capacity model actually in use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pool:
    """Browsers that draw on one set of sessions: at most `sessions` of them run at once."""

    browsers: frozenset[str]
    sessions: int

    @property
    def shared(self) -> bool:
        return len(self.browsers) > 1


@dataclass(frozen=True)
class Capacity:
    """Slots per browser (how many of that browser at once) and the pools they draw on."""

    slots: dict[str, int]
    pools: tuple[Pool, ...] = field(default=())
    cells: int = 0  # at most this many cells at once, all browsers together (`farm test --workers`); 0: the slots decide

    @property
    def model(self) -> str:
        """`shared` once any pool serves several browsers, else `per-browser`."""
        return "shared" if any(pool.shared for pool in self.pools) else "per-browser"

    def pool_of(self, browser: str) -> Pool:
        """The pool a browser draws on; a browser no pool names has its slots to itself."""
        return next((pool for pool in self.pools if browser in pool.browsers), Pool(frozenset({browser}), self.slots.get(browser, 0)))

    def only(self, browsers: Iterable[str]) -> Capacity:
        """The capacity the run's browsers see: other browsers' slots are left out, but a pool keeps
        its sessions (a browser outside the run may still take some of them)."""
        wanted = set(browsers)
        pools = tuple(Pool(p.browsers & wanted, p.sessions) for p in self.pools if p.browsers & wanted)
        return Capacity({b: n for b, n in self.slots.items() if b in wanted}, pools, self.cells)

    def at_most(self, cells: int) -> Capacity:
        """No more than `cells` cells at once, whatever the slots (a suite whose tests must not
        overlap runs with 1: one cell at a time across all browsers)."""
        return Capacity(dict(self.slots), self.pools, cells)

    def within_cap(self, running: int) -> bool:
        """May one more cell start beside `running` others?"""
        return not self.cells or running < self.cells

    def workers(self) -> int:
        """The most xdist workers a run may have: one per slot of each browser. In a pool every
        browser may need all its sessions at some point, and a worker serves one browser."""
        return sum(self.slots.values())

    def initial_workers(self) -> int:
        """The workers a run starts with: one per session that can run at once. On nodes of one
        browser each that is every worker; in a shared pool the others start only once a browser
        needs more workers than it has (farm.plugin.controller.dispatch). Started at once they would only wait, and
        on 2 cores their start took the CPU from the workers running the first cells: with 8
        workers for a pool of 4 sessions, two of the first four cells started 1.5-1.9 s after the
        others; with 4 workers all four started within 0.4 s."""
        pooled = {b for pool in self.pools for b in pool.browsers}
        alone = sum(n for b, n in self.slots.items() if b not in pooled)
        at_once = alone + sum(min(pool.sessions, sum(self.slots.get(b, 0) for b in pool.browsers)) for pool in self.pools)
        return min(at_once, self.cells) if self.cells else at_once

    def to_json(self) -> dict[str, object]:
        pools = [{"browsers": sorted(p.browsers), "sessions": p.sessions} for p in self.pools]
        return {"slots": dict(self.slots), "pools": pools, "cells": self.cells}

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> Capacity:
        slots = {str(b): int(n) for b, n in dict(raw.get("slots") or {}).items()}  # type: ignore[call-overload]
        pools = tuple(Pool(frozenset(p["browsers"]), int(p["sessions"])) for p in list(raw.get("pools") or []))  # type: ignore[call-overload]
        return cls(slots, pools, int(raw.get("cells") or 0))  # type: ignore[call-overload]

    @classmethod
    def per_browser(cls, slots: Mapping[str, int]) -> Capacity:
        """Each browser its own slots (nodes of one browser each)."""
        return cls(dict(slots), tuple(Pool(frozenset({b}), n) for b, n in slots.items()))


@dataclass(frozen=True)
class NodeOffer:
    """One UP node as capacity sees it: slots per browser, and its max-sessions."""

    slots: dict[str, int]
    max_sessions: int


def from_nodes(nodes: Iterable[NodeOffer]) -> Capacity:
    """Merge nodes into pools: browsers that share any node share one pool, whose sessions are the
    sum of those nodes' max-sessions (each capped by its slots). Exact for farm's nodes (each serves
    one browser, or all the pool's); for a mixed Grid it is the bound a dispatcher can keep."""
    slots: dict[str, int] = {}
    groups: list[tuple[set[str], int]] = []
    for node in nodes:
        offered = {b for b, n in node.slots.items() if n > 0}
        if not offered:
            continue
        for browser in offered:
            slots[browser] = slots.get(browser, 0) + node.slots[browser]
        sessions = min(node.max_sessions or sum(node.slots.values()), sum(node.slots[b] for b in offered))
        joined = [g for g in groups if g[0] & offered]
        merged = (offered.union(*(g[0] for g in joined)), sessions + sum(g[1] for g in joined))
        groups = [g for g in groups if g not in joined] + [merged]
    pools = tuple(sorted((Pool(frozenset(b), min(n, sum(slots[x] for x in b))) for b, n in groups), key=lambda p: sorted(p.browsers)))
    return Capacity(slots, pools)


@dataclass(frozen=True)
class CurvePoint:
    """Work done with `sessions` browsers at once: cells per minute, and how long each took."""

    sessions: int
    cells: int
    seconds: float
    mean_cell: float

    @property
    def per_minute(self) -> float:
        return 60.0 * self.cells / self.seconds if self.seconds > 0 else 0.0


def best_concurrency(curve: Iterable[CurvePoint], within: float = 0.95) -> int:
    """The fewest sessions that do (nearly) the most work: more browsers than the machine can feed
    only make every cell slower (measured here: on 2 cores, 2 Chrome sessions did the work of 4)."""
    points = sorted(curve, key=lambda p: p.sessions)
    if not points:
        raise ValueError("no measurements")
    top = max(p.per_minute for p in points)
    return next(p.sessions for p in points if p.per_minute >= within * top)


GIB = 1024**3
SESSION_MEMORY = 1 * GIB  # a browser with a modest page, its driver and its share of the node's X server
GRID_MEMORY = 2 * GIB  # the hub's and nodes' JVMs, and the engine


def machine_sessions(cpus: int, memory: int, nodes: int) -> int:
    """Default sessions per node: as many as the engine's machine has cores (more browsers than
    cores only slow every cell down), within its memory shared by all `nodes`."""
    by_memory = max(1, (memory - GRID_MEMORY) // SESSION_MEMORY // max(1, nodes)) if memory else cpus
    return max(1, min(cpus, by_memory, 16))
