"""Watching the Grid while a run goes on: is it still answering, which slots are UP, and how long
session requests wait in its queue. Pure logic over a client and a clock, so it is tested without a Grid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from farm.errors import GridError

GRID_LOST_AFTER = 15.0  # seconds without an answer from the Grid before a run is given up


class SlotsView(Protocol):
    def slots(self) -> Mapping[str, int]: ...


class GridProbe(Protocol):
    """What the watchdog asks of a Grid (farm.grid.GridClient answers it)."""

    url: str

    def status(self) -> SlotsView: ...

    def queue_size(self) -> int | None: ...


class GridWatchdog:
    """Notices a Grid that stopped answering (hub killed), and samples its session queue.

    The queue is sampled every tick (0.1 s): the sum of queued requests x seconds between samples
    estimates the run's total queue wait; a farm that sizes workers to slots keeps it near zero.
    """

    def __init__(
        self, client: GridProbe, grace: float = GRID_LOST_AFTER, every: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client, self.grace, self.every, self.clock = client, grace, every, clock
        self.checked = float("-inf")
        self.failing_since: float | None = None
        self.slots: dict[str, int] | None = None  # UP slots per browser at the last answer
        self.queue_wait = 0.0
        self._sampled: float | None = None

    def sample_queue(self) -> None:
        now = self.clock()
        queued = self.client.queue_size()
        if queued is not None and self._sampled is not None:
            self.queue_wait += queued * (now - self._sampled)
        self._sampled = now

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
