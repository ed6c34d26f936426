"""Watching the Grid while a run goes on: is it still answering, which slots are UP, and how long
session requests wait in its queue. Pure logic over a client and a clock, so it is tested without a Grid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from farm.core.errors import GridError

GRID_LOST_AFTER = 15.0  # seconds without an answer from the Grid before a run is given up


class SlotsView(Protocol):
    def slots(self) -> Mapping[str, int]: ...


class GridProbe(Protocol):
    """What the watchdog asks of a Grid (farm.infra.grid.GridClient answers it)."""

    url: str

    def status(self) -> SlotsView: ...

    def queue_size(self) -> int | None: ...


class GridWatchdog:
    """Notices a Grid that stopped answering (hub killed), and samples its session queue.

    The queue's total wait (queued requests x seconds) is integrated by the trapezoid rule over
    samples taken every `idle_every` s while the queue is empty and every `busy_every` s while
    requests wait. A farm that sizes workers to slots keeps the queue empty, and each read costs
    about 0.8 ms of the runner's CPU and 0.5 ms of the hub's: read 10 times a second, it was the
    largest part of what `farm test` added to a run's CPU. The estimate stays unbiased: a wait
    shorter than the gap is seen with probability length / gap and then counts half a gap on
    each side.
    """

    def __init__(
        self,
        client: GridProbe,
        grace: float = GRID_LOST_AFTER,
        every: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        idle_every: float = 1.0,
        busy_every: float = 0.1,
    ) -> None:
        self.client, self.grace, self.every, self.clock = client, grace, every, clock
        self.idle_every, self.busy_every = idle_every, busy_every
        self.checked = float("-inf")
        self.failing_since: float | None = None
        self.slots: dict[str, int] | None = None  # UP slots per browser at the last answer
        self.queue_wait = 0.0
        self._sampled: float | None = None
        self._queued = 0  # requests queued at the last answer

    def sample_queue(self) -> None:
        """Read the queue if a sample is due (call it as often as you like)."""
        now = self.clock()
        due = self.busy_every if self._queued else self.idle_every
        if self._sampled is not None and now - self._sampled < due - 1e-9:
            return
        queued = self.client.queue_size()
        if queued is None:  # no answer: that stretch is not counted
            self._sampled, self._queued = now, 0
            return
        if self._sampled is not None:
            self.queue_wait += (self._queued + queued) / 2 * (now - self._sampled)
        self._sampled, self._queued = now, queued

    def lost(self) -> bool:
        """True once the Grid has not answered for `grace` seconds (asked at most every `every` s)."""
        now = self.clock()
        if now - self.checked < self.every:
            return False
        self.checked = now
        try:
            self.slots = dict(self.client.status().slots())
            self.failing_since = None
        except GridError:
            self.failing_since = self.failing_since if self.failing_since is not None else now
        return self.failing_since is not None and now - self.failing_since >= self.grace
