"""An xdist scheduler that dispatches matrix cells longest-expected-first within the Grid's capacity.

It meets xdist's `Scheduling` protocol (xdist/scheduler/protocol.py) and is returned from the
`pytest_xdist_make_scheduler` hook. Two things differ from xdist's LoadScheduling:

* Order: pending cells are kept sorted by expected duration (xdist hands them out in collection
  order), and a cell is only started while its browser has a free slot on the Grid and its pool a
  free session (farm.core.capacity: with shared nodes, a browser whose cells ran out leaves its
  sessions to the others).
* No waiting for every worker: dispatch starts with the first worker's collection, and each
  worker gets cells as soon as its own collection matches.
* One browser per worker: each worker serves the browser the plugin gave it when it started
  (`workerinput["farm_browser"]`), so a suite's session-scoped driver matches every cell it gets.
  A worker that keeps sessions between cells (a session-scoped driver) holds that many slots of
  its browser while idle; the slot count covers them, so no request waits in the Grid's queue for
  another worker's held session.
* Workers on demand: a run starts one worker per session that can run at once
  (`Capacity.initial_workers`). When a cell's browser has no worker free but its pool has a session
  (on shared nodes, once another browser's cells ran out), or will have one within a worker's
  start time (as that browser's last cells end), the scheduler asks the plugin for one more worker
  of that browser, up to the browser's slots. Until it has collected it counts as a session taken
  when deciding whether to ask for another, but an idle worker that is ready may use that session
  meanwhile; the new worker takes the next session that frees.
* No lookahead: an xdist worker only starts item i once it has been sent item i+1 (it needs
  `nextitem` for fixture teardown). Sending a second real cell would commit it to that worker
  before anyone knows which slot frees first. Instead every cell is sent followed by an idle
  sentinel item that the farm plugin turns into a no-op; the worker runs the cell at once and then
  parks on the sentinel until the next decision, made when a slot actually frees.

Slots follow the Grid during the run: when a node dies the Grid marks it DOWN (its health check),
the browser's limit shrinks and the cells the node was running are re-run (pytest-rerunfailures)
within the smaller limit. A browser left with no slots at all gets its pending cells dropped, each
with the reason, so the run ends with every cell accounted for instead of waiting forever.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from farm.core.capacity import Capacity
from farm.core.schedule import Plan
from farm.plugin.idle import is_idle_nodeid

CapacityProbe = Callable[[], Capacity | None]  # the Grid's capacity now; None if unknown
Spawn = Callable[[str], bool]  # start one more worker serving a browser; False if it cannot
OnDrop = Callable[[str, str], None]  # (nodeid, reason) of a cell that cannot run


class LongestFirstScheduling:
    """xdist Scheduling: one running cell per worker, a worker per slot of each browser, longest first."""

    def __init__(
        self,
        plan_of: Callable[[Sequence[str]], Plan],
        limits: Capacity,
        log: Any = None,
        capacity: CapacityProbe | None = None,
        on_drop: OnDrop | None = None,
        refresh_every: float = 2.0,
        spawn: Spawn | None = None,
        initial_workers: int = 0,
    ) -> None:
        """`plan_of` gives the plan for the first collection (the workers plan from it as they
        collect, so there is no separate collection pass); `limits` is the capacity at the start;
        `spawn` starts another worker once all `initial_workers` have collected (None: never)."""
        self.plan_of = plan_of
        self.plan = Plan(limits, {})
        self.log = log
        self.capacity = capacity
        self.on_drop = on_drop
        self.refresh_every = refresh_every
        self.limits: Capacity = limits
        self.checked = time.monotonic()
        self.dropped: dict[str, str] = {}
        self.node2collection: dict[Any, list[str]] = {}
        self.node2pending: dict[Any, list[int]] = {}
        self.running: dict[Any, int | None] = {}
        self.finished_nodes: set[Any] = set()
        self.collection: list[str] | None = None
        self.idle_index = -1
        self.pending: list[int] = []
        self.held: dict[Any, int] = {}  # sessions a worker kept open after its last cell
        self.open_times: dict[str, list[float]] = {}  # seconds each new session of a browser took to open
        self.started_at: dict[Any, float] = {}  # when each running worker was sent its cell
        self.collection_error: str | None = None
        self.spawn = spawn
        self.initial_workers = initial_workers
        self.seen_workers = 0  # workers ever added
        self.asked: dict[str, list[float]] = defaultdict(list)  # per browser: when each worker not yet ready was asked for
        self.arriving: dict[Any, float] = {}  # ready workers asked for, not yet collected: since when
        self.start_times: list[float] = []  # seconds from asking for a worker to its collection

    # protocol properties ----------------------------------------------------------------------
    @property
    def nodes(self) -> list[Any]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        # The first worker's collection is enough to plan; the others join as theirs arrive. Latches:
        # workers that finish (or crash) leave node2collection, the collection stays done.
        return self.collection is not None or bool(self.node2collection)

    @property
    def tests_finished(self) -> bool:
        if self.collection is None:
            return False
        return not self.pending and all(index is None for index in self.running.values())

    @property
    def has_pending(self) -> bool:
        return bool(self.pending) or any(index is not None for index in self.running.values())

    # nodes -----------------------------------------------------------------------------------
    def add_node(self, node: Any) -> None:
        assert node not in self.node2pending
        self.node2pending[node] = []
        self.running[node] = None
        self.held[node] = 0
        self.seen_workers += 1
        browser = self.serves(node)
        if self.spawned(node) and browser and self.asked[browser]:
            self.arriving[node] = self.asked[browser].pop(0)

    @staticmethod
    def spawned(node: Any) -> bool:
        """Was this worker started on the scheduler's request (not one of the first)?"""
        return bool(getattr(node, "workerinput", {}).get("farm_spawned"))

    @staticmethod
    def serves(node: Any) -> str | None:
        """The browser a worker serves (None: any, for a plain single-process run)."""
        return getattr(node, "workerinput", {}).get("farm_browser")

    def note_opened(self, browser: str, seconds: list[float]) -> None:
        """Sessions a worker opened during its last cell, and how long each took to open."""
        if browser and seconds:
            self.open_times.setdefault(browser, []).extend(seconds)

    def open_cost(self, browser: str) -> float | None:
        """What opening a session of `browser` costs in this run (median so far); None before any."""
        seen = self.open_times.get(browser)
        return statistics.median(seen) if seen else None

    def worker_finished(self, node: Any) -> None:
        """A worker ended on its own (its fixtures quit the sessions it kept): decide now, not at
        the next cell's end, since another browser of its pool may be waiting for those sessions."""
        if node in self.held:
            self.held[node] = 0
        self.finished_nodes.add(node)
        self.schedule()

    def note_held(self, node: Any, sessions: int) -> None:
        """A worker finished a cell still holding `sessions` open (session- or module-scoped drivers)."""
        if node in self.held:
            self.held[node] = max(0, sessions)

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        assert node in self.node2pending
        reference = self.collection or next(iter(self.node2collection.values()), None)
        if reference is not None and list(collection) != reference:
            raise RuntimeError(f"worker {node} collected a different set of tests; the matrix must be collected identically everywhere")
        self.node2collection[node] = list(collection)
        asked = self.arriving.pop(node, None)
        if asked is not None:
            self.start_times.append(time.monotonic() - asked)

    def remove_node(self, node: Any) -> str | None:
        """Forget a finished or crashed worker; returns the cell it crashed in, if any."""
        browser = self.serves(node)
        if node not in self.node2pending and self.spawned(node) and browser and self.asked[browser]:
            self.asked[browser].pop(0)  # asked for, but it died before it was ready
        self.arriving.pop(node, None)
        self.node2pending.pop(node, None)
        self.node2collection.pop(node, None)
        self.held.pop(node, None)
        crashed = self.running.pop(node, None)
        if crashed is None or self.collection is None:
            return None
        return self.collection[crashed]

    # tests -----------------------------------------------------------------------------------
    def browser_of(self, index: int) -> str:
        assert self.collection is not None
        return str(self.plan.cells[self.collection[index]]["browser"])

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)
        if item_index == self.idle_index:
            return
        self.running[node] = None
        self.schedule()

    def mark_test_pending(self, item: str) -> None:
        """Requeue a cell (pytest-rerunfailures does this for a crashed worker's item)."""
        assert self.collection is not None
        self._enqueue(self.collection.index(item))
        self.schedule()

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError("the farm scheduler never steals: a worker holds at most one cell")

    def order(self, index: int) -> tuple[bool, float, str]:
        """The plan's order: --failed-first cells first, then longest expected first."""
        assert self.collection is not None
        cell = self.plan.cells[self.collection[index]]
        return (not cell.get("first", False), -float(cell["expected"]), self.collection[index])

    def _enqueue(self, index: int) -> None:
        self.pending.append(index)
        self.pending.sort(key=self.order)

    # slots -----------------------------------------------------------------------------------
    def in_use(self, browser: str, booting: bool = True) -> int:
        """Slots of `browser` taken: a running cell takes at least one, an idle worker what it holds,
        and (`booting`) a worker asked for, which will open one once it has started."""
        coming = (len(self.asked[browser]) + sum(1 for node in self.arriving if self.serves(node) == browser)) if booting else 0
        return coming + sum(
            max(1, self.held.get(node, 0)) if index is not None else self.held.get(node, 0)
            for node, index in self.running.items()
            if (index is not None and self.browser_of(index) == browser) or (index is None and self.serves(node) == browser)
        )

    def fits(self, node: Any, browser: str) -> bool:
        """Would a cell of `browser` on this idle worker stay within the Grid's slots for it, and
        within its pool's sessions? Its held sessions are already counted; it needs one more only if
        it holds none. Workers still starting are not counted: a session they were asked for serves
        a worker that is ready now, and they take the next one that frees (on 2 cores a worker takes
        1.5-3 s to start, which left a pool session idle while a chrome worker waited beside it)."""
        room = self._room_for(browser, 0 if self.held.get(node, 0) else 1, booting=False)
        return room and self.limits.within_cap(self.cells_running())

    def _room_for(self, browser: str, extra: int, booting: bool = True) -> bool:
        """Do `extra` more sessions of `browser` fit its slots and its pool's sessions?"""
        pool = self.limits.pool_of(browser)
        pooled = sum(self.in_use(b, booting) for b in pool.browsers)
        return self.in_use(browser, booting) + extra <= self.limits.slots.get(browser, 0) and pooled + extra <= pool.sessions

    def cells_running(self, booting: bool = False) -> int:
        """Cells running now, all browsers together (`booting`: and workers asked for, each of which
        starts one when it is ready): what `farm test --workers` caps."""
        coming = sum(len(times) for times in self.asked.values()) + len(self.arriving) if booting else 0
        return coming + sum(1 for index in self.running.values() if index is not None)

    # dispatch --------------------------------------------------------------------------------
    def _first_collection(self) -> None:
        collection = next(iter(self.node2collection.values()))
        self.plan = self.plan_of(collection)
        self.collection = collection
        idle = [i for i, nodeid in enumerate(collection) if is_idle_nodeid(nodeid)]
        if not idle and collection:
            raise RuntimeError("the farm plugin's idle item is missing from the collection")
        self.idle_index = idle[0] if idle else -1
        for index, nodeid in enumerate(collection):
            if index != self.idle_index:
                if nodeid not in self.plan.cells:
                    raise RuntimeError(f"collected {nodeid} is not in the run's plan")
                self.pending.append(index)
        self.pending.sort(key=self.order)

    def refresh_limits(self, force: bool = False) -> None:
        """Take the Grid's current capacity (rate-limited); keep the last known on no answer."""
        now = time.monotonic()
        if self.capacity is None or (not force and now - self.checked < self.refresh_every):
            return
        self.checked = now
        seen = self.capacity()
        if seen is not None:
            self.limits = seen.only(self.plan.capacity.slots).at_most(self.plan.capacity.cells)

    def distrust_limits(self) -> None:
        """An infrastructure failure was just reported: read the Grid again at the next decision."""
        self.checked = float("-inf")

    def _drop_unrunnable(self) -> None:
        """Drop pending cells of browsers the Grid has no slot left for, once none of theirs runs."""
        stranded = {self.browser_of(i) for i in self.pending if self.limits.slots.get(self.browser_of(i), 0) < 1}
        stranded = {b for b in stranded if not self._running(b)}
        if not stranded:
            return
        self.refresh_limits(force=True)  # confirm before giving up on cells
        for index in [i for i in self.pending if self.browser_of(i) in stranded and self.limits.slots.get(self.browser_of(i), 0) < 1]:
            assert self.collection is not None
            nodeid, browser = self.collection[index], self.browser_of(index)
            self.pending.remove(index)
            self.dropped[nodeid] = reason = f"not run: the grid has no {browser} slot left (its nodes were lost)"
            if self.on_drop is not None:
                self.on_drop(nodeid, reason)

    def _running(self, browser: str) -> bool:
        return any(index is not None and self.browser_of(index) == browser for index in self.running.values())

    def _idle_workers(self) -> list[Any]:
        return [
            node
            for node, index in self.running.items()
            if index is None and node not in self.finished_nodes and node in self.node2collection
        ]

    def _worker_for(self, browser: str, idle: list[Any]) -> Any | None:
        """An idle worker of `browser` that may start a cell now; one already holding a session of
        it first (the cell reuses that session instead of asking the Grid for another). A worker
        that would open a new session does so only when that is worth its cost (`_worth_opening`):
        on shared nodes, a session that moved from one browser to the other costs a new session
        per worker (and its isolation probe)."""
        fitting = [node for node in idle if self.serves(node) in (None, browser) and self.fits(node, browser)]
        chosen = max(fitting, key=lambda node: self.held.get(node, 0) > 0, default=None)
        if chosen is not None and not self.held.get(chosen, 0) and not self._worth_opening(browser, self.open_cost(browser)):
            return None
        return chosen

    def _worth_opening(self, browser: str, cost: float | None) -> bool:
        """Will one more session of `browser`, ready after `cost` seconds, end its pending cells
        sooner than the k running workers that keep a session of it? They need about W/k for the
        W seconds pending, with it cost + W/(k+1). True without a measured cost or without such a
        worker; one overdue by more than the cost is not counted (it may hang)."""
        if cost is None:
            return True
        now = time.monotonic()
        keepers = 0
        for node, index in self.running.items():
            if index is None or not self.held.get(node, 0) or self.browser_of(index) != browser:
                continue
            left = self.started_at.get(node, now) + self.expected(index) - now
            keepers += left > -cost
        work = sum(self.expected(i) for i in self.pending if self.browser_of(i) == browser)
        return not keepers or work / keepers > cost + work / (keepers + 1)

    def _spawn_for(self, browser: str, idle: list[Any]) -> bool:
        """Ask for one more worker of `browser` for a cell that no worker of it can take: only
        once every first worker has collected (one still starting may serve it), while its pool
        has a session free (or another browser gives one back within a worker's start time,
        `_given_back`) and the browser is below its slots, and only when a new session is worth
        starting a worker and opening it (`_worth_opening`)."""
        if self.spawn is None or self.seen_workers < self.initial_workers or any(n not in self.node2collection for n in self.running):
            return False
        if any(self.serves(node) == browser for node in idle):
            return False  # one of its workers is free (and waits for a kept session, or for room)
        workers = sum(1 for node in self.running if self.serves(node) == browser and node not in self.finished_nodes)
        start = statistics.median(self.start_times) if self.start_times else 0.0
        room = self._room_for(browser, 1) or self._given_back(browser, within=start) > 0
        capped = not self.limits.within_cap(self.cells_running(booting=True))
        if not room or capped or workers + len(self.asked[browser]) >= self.limits.slots.get(browser, 0):
            return False
        if not self._worth_opening(browser, (self.open_cost(browser) or 0.0) + start):
            return False
        if not self.spawn(browser):
            return False
        self.asked[browser].append(time.monotonic())
        return True

    def _given_back(self, browser: str, within: float) -> int:
        """Sessions of `browser`'s pool that another browser, with no cell of its own left to start,
        gives back within `within` seconds by its running cells' expected ends. A worker asked for
        now (it takes about `within` to start) is ready when they free; asked for only then, on 2
        cores the freed sessions stayed idle 1.1-2.8 s."""
        done = self.limits.pool_of(browser).browsers - {browser} - {self.browser_of(i) for i in self.pending}
        now = time.monotonic()
        ending = [
            self.started_at.get(node, now) + self.expected(index) - now
            for node, index in self.running.items()
            if index is not None and self.browser_of(index) in done
        ]
        return sum(1 for left in ending if left <= within)

    def group_of(self, index: int) -> str:
        assert self.collection is not None
        return str(self.plan.cells[self.collection[index]].get("group", ""))

    def expected(self, index: int) -> float:
        assert self.collection is not None
        return float(self.plan.cells[self.collection[index]]["expected"])

    def _has_work_for(self, node: Any) -> bool:
        serves = self.serves(node)
        return any(serves is None or self.browser_of(i) == serves for i in self.pending)

    def schedule(self) -> None:
        """Cell by cell in plan order (longest expected first), each to an idle worker of its
        browser while its slots and pool allow; then end the workers whose browser is done.

        Such a worker ends at once if it holds sessions: they go back to the Grid, where another
        browser of its pool may wait for them, and held to the end of the run they could meet the
        node's session timeout. One that holds none ends with the run (here, and by xdist, once the
        last cell is done): ending it frees nothing, and its teardown would take the machine from
        the cells still running. On 2 cores a shared run's last cells took 1.5 to 2 times their
        expected time while four workers that never ran a cell ended beside them."""
        if not self.collection_is_completed:
            return
        if self.collection is None:
            self._first_collection()
        self.refresh_limits()
        self._drop_unrunnable()
        idle = self._idle_workers()
        busy_groups = {self.group_of(i) for i in self.running.values() if i is not None} - {""}
        blocked: set[str] = set()  # no idle worker may take this browser now: nor any later cell of it
        waiting = {self.browser_of(i) for i in self.pending}
        for index in list(self.pending):
            browser = self.browser_of(index)
            if blocked >= waiting:  # with no worker idle, a browser may still need one asked for
                break
            if browser in blocked or self.group_of(index) in busy_groups:
                continue  # an xdist_group's cells wait for its running one, whatever its browser
            node = self._worker_for(browser, idle)
            if node is None:
                if not self._spawn_for(browser, idle):
                    blocked.add(browser)
                continue
            idle.remove(node)
            self.pending.remove(index)
            self.running[node] = index
            self.started_at[node] = time.monotonic()
            self.node2pending[node].extend([index, self.idle_index])
            node.send_runtest_some([index, self.idle_index])
            busy_groups.add(self.group_of(index))
            busy_groups.discard("")
        for node in idle:
            if self._holds_a_lost_slot(node) or (not self._has_work_for(node) and (self.held.get(node, 0) or self.tests_finished)):
                # Nothing left for its browser, or its sessions are needed elsewhere: let it end,
                # which also quits the sessions it holds.
                self.finished_nodes.add(node)
                node.shutdown()

    def _holds_a_lost_slot(self, node: Any) -> bool:
        """Does this idle worker keep a session its browser no longer has room for? After a node
        is lost, the cell re-run on another worker asks the Grid for a session and waits for a
        slot; kept sessions (--isolation context) would hold every slot left while that worker
        waits for the re-run, and neither would move. Ending this worker frees its slot."""
        browser = self.serves(node)
        if browser is None or not self.held.get(node, 0) or node in self.finished_nodes:
            return False
        slots = self.limits.slots.get(browser, 0)
        return slots < self.plan.capacity.slots.get(browser, 0) and self.in_use(browser, booting=False) > slots
