"""Pure pieces of a run: shards from the flag, cells from node ids, exit statuses, the Grid watchdog."""

from __future__ import annotations

import pytest

from farm.core.errors import ExitCode, GridError, UsageError
from farm.core.matrix import cell_from
from farm.core.results import GRID_LOST, HURRIED, INTERRUPTED, TERMINATED, exit_code_of
from farm.core.schedule import parse_shard
from farm.core.watchdog import GridWatchdog


def test_parse_shard():
    assert parse_shard("2/4") == (2, 4) and parse_shard("1/1") == (1, 1)
    for bad in ("0/4", "5/4", "2", "a/b", "2/", "/4", "-1/4"):
        with pytest.raises(UsageError, match="I/N"):
            parse_shard(bad)


@pytest.mark.parametrize(
    ("nodeid", "params", "ids", "test_id", "browser"),
    [
        ("t.py::test_x[chrome]", {"browser_name": "chrome"}, ["chrome"], "t.py::test_x", "chrome"),
        ("t.py::test_x[3-firefox]", {"n": 3, "browser_name": "firefox"}, ["3", "firefox"], "t.py::test_x[3]", "firefox"),
        (
            "t.py::C::test_y[chrome-chrome]",
            {"which": "chrome", "browser_name": "chrome"},
            ["chrome", "chrome"],
            "t.py::C::test_y[chrome]",
            "chrome",
        ),
        ("t.py::test_z", {}, [], "t.py::test_z", ""),
    ],
)
def test_cells_from_node_ids(nodeid, params, ids, test_id, browser):
    cell = cell_from(nodeid, params, ids)
    assert (cell.nodeid, cell.test_id, cell.browser) == (nodeid, test_id, browser)


def summary(failed: int = 0, broken: int = 0, not_run: int = 0) -> dict:
    return {"counts": {"passed": 1, "failed": failed, "broken": broken, "skipped": 0}, "not_run": ["x"] * not_run}


@pytest.mark.parametrize(
    ("data", "pytest_exit", "stopped", "code"),
    [
        (summary(), 0, "", ExitCode.OK),
        (summary(failed=1), 1, "", ExitCode.TESTS_FAILED),
        (summary(broken=1), 1, "", ExitCode.TESTS_FAILED),
        (summary(failed=1, not_run=2), 1, "", ExitCode.INFRASTRUCTURE),  # cells not run: the matrix is not whole
        (summary(), 3, "", ExitCode.INFRASTRUCTURE),  # pytest's internal error
        (summary(failed=1), 1, INTERRUPTED, ExitCode.INTERRUPTED),
        (summary(), 0, HURRIED, ExitCode.INTERRUPTED),
        (summary(), 0, TERMINATED, ExitCode.TERMINATED),
        (summary(), 0, GRID_LOST, ExitCode.INFRASTRUCTURE),
    ],
)
def test_exit_status(data, pytest_exit, stopped, code):
    assert exit_code_of(data, pytest_exit, stopped) == code


class FakeGrid:
    url = "http://grid"

    def __init__(self) -> None:
        self.answers = True
        self.queued = 0

    def status(self):
        if not self.answers:
            raise GridError("unreachable")
        return self

    def slots(self):
        return {"chrome": 2}

    def queue_size(self):
        return self.queued if self.answers else None


def test_watchdog_gives_up_after_the_grace_of_silence_only():
    grid, now = FakeGrid(), [0.0]
    dog = GridWatchdog(grid, grace=15, every=2, clock=lambda: now[0])
    assert not dog.lost() and dog.slots == {"chrome": 2}
    grid.answers = False
    for t in (2, 10, 16):
        now[0] = t
        assert not dog.lost()  # silent since 2 s: not yet 15 s
    now[0] = 17.0
    assert not dog.lost()  # asked at most every 2 s: the last check was at 16 s
    now[0] = 18.0
    assert dog.lost()  # silent for 16 s
    grid.answers, now[0] = True, 20
    assert not dog.lost()  # it answered again: the silence is forgotten


class CountingGrid(FakeGrid):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def queue_size(self) -> int | None:
        self.reads += 1
        return super().queue_size()


def test_watchdog_integrates_the_session_queue():
    """Trapezoids over the samples; once a second while the queue is empty, 10 times a second
    while requests wait."""
    grid, now = CountingGrid(), [0.0]
    dog = GridWatchdog(grid, clock=lambda: now[0])
    for t in (0.0, 0.1, 0.5, 0.9):  # empty: only the first call reads
        now[0] = t
        dog.sample_queue()
    assert (grid.reads, dog.queue_wait) == (1, 0.0)
    for t, queued in ((1.0, 2), (1.1, 1), (1.2, 0), (1.3, 0), (2.2, 0)):
        now[0], grid.queued = t, queued
        dog.sample_queue()
    # 0-1 s: (0 + 2) / 2 x 1 s; 1.0-1.1 s: (2 + 1) / 2 x 0.1 s; 1.1-1.2 s: (1 + 0) / 2 x 0.1 s
    assert dog.queue_wait == pytest.approx(1.0 + 0.15 + 0.05)
    assert grid.reads == 5  # 0, 1.0, 1.1, 1.2 (busy), then not before 2.2 s: 1.3 is skipped
    grid.answers = False
    now[0] = 5.0
    dog.sample_queue()  # no answer: nothing added
    assert dog.queue_wait == pytest.approx(1.2)


def test_a_short_wait_between_samples_counts_as_its_expected_length():
    """A 0.3 s wait inside a 1 s gap is seen by 3 of 10 evenly spread sampling phases; each that
    sees it counts 1 s: 0.3 s on average."""
    totals = []
    for phase in range(10):
        grid, now = FakeGrid(), [0.0]
        dog = GridWatchdog(grid, clock=lambda now=now: now[0])
        start = phase / 10
        for t in (start, start + 1, start + 2, start + 3):
            now[0], grid.queued = t, int(1.0 <= t < 1.3)
            dog.sample_queue()
        totals.append(dog.queue_wait)
    assert sum(totals) / len(totals) == pytest.approx(0.3)
