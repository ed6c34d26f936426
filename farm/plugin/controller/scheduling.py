"""pytest's controller process in farm mode: which browser each xdist worker serves, the farm's
scheduler, and one line per finished cell.

Runs only where xdist's controller runs (never in a worker): the workers collect and run the
cells (farm.plugin.worker); the controller hands them out (farm.plugin.controller.dispatch).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from farm.core.results import CellState
from farm.core.runfolder import RunFolder, append_line
from farm.core.schedule import Plan, Planning, relative_costs
from farm.infra.grid import GridClient
from farm.plugin.controller import xdist_adapter
from farm.plugin.controller.dispatch import LongestFirstScheduling
from farm.plugin.idle import IDLE_NAME, is_idle_nodeid

if TYPE_CHECKING:
    from farm.plugin.matrix import MatrixPlugin


def assign_browser(slots: dict[str, int], assigned: Counter[str]) -> str:
    """The browser a new worker serves: the one furthest below its slot count (plan order on ties)."""
    return max(slots, key=lambda b: (slots[b] - assigned[b], -list(slots).index(b)))


def initial_browsers(slots: dict[str, int], count: int, costs: Mapping[str, float]) -> list[str]:
    """The browsers of a run's initial `count` workers, in the order xdist starts them: as many of
    each as assign_browser gives, the browser with the most work per worker first (`costs`: a
    cell's cost per browser). xdist starts its workers one after another and on 2 cores the last
    collected up to 0.9 s after the first; alternating the browsers gave the busiest browser, whose
    last cell ends the run, one of the late ones."""
    interleaved: list[str] = []
    for _ in range(count):
        interleaved.append(assign_browser(slots, Counter(interleaved)))
    workers = Counter(interleaved)
    return sorted(interleaved, key=lambda b: -costs.get(b, 1.0) / workers[b])  # stable: ties stay interleaved


class SchedulingPlugin:
    """xdist's controller hooks: workers' browsers, the scheduler, and what the workers report."""

    def __init__(self, matrix: MatrixPlugin, planning: Planning, run: RunFolder) -> None:
        self.config = matrix.config
        self.grid_url = matrix.grid_url
        self.planning = planning
        self.run = run
        self.scheduler: LongestFirstScheduling | None = None
        self.assigned: dict[Any, str] = {}  # worker node -> browser
        self.wanted: list[str] = []  # browsers of workers being started for the scheduler
        slots = planning.capacity.slots
        # browsers of the initial workers, in start order
        self.initial = initial_browsers(slots, planning.capacity.initial_workers(), relative_costs(planning.measured, list(slots)))
        self.config.pluginmanager.register(CellRecorder(run.cells), "farm-cell-recorder")

    @pytest.hookimpl(optionalhook=True)  # xdist's: absent with -p no:xdist
    def pytest_configure_node(self, node: Any) -> None:
        """A worker the scheduler asked for serves the browser it was asked for; any other (the
        initial ones, in `initial_browsers` order; one replacing a crashed worker) the browser
        shortest of workers."""
        if self.wanted:
            browser = self.wanted.pop(0)
            node.workerinput["farm_spawned"] = True
        elif self.initial:
            browser = self.initial.pop(0)
        else:
            browser = assign_browser(self.planning.capacity.slots, Counter(self.assigned.values()))
        self.assigned[node] = browser
        node.workerinput["farm_browser"] = browser

    def _spawn_worker(self, browser: str) -> bool:
        """One more worker, serving `browser` (its configure_node pops it from `wanted`)."""
        template = next(iter(self.assigned), None)
        if template is None:
            return False
        self.wanted.append(browser)
        if not xdist_adapter.start_worker(self.config, template):
            self.wanted.clear()
            return False
        return True

    @pytest.hookimpl(optionalhook=True)  # xdist's: absent with -p no:xdist
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A crashed worker's browser goes to its replacement; one that finished keeps its place, so a
        replacement for another browser's crash is never given a browser whose work is done."""
        if error:
            self.assigned.pop(node, None)
        elif self.scheduler is not None and not self._stopping(node):
            self.scheduler.worker_finished(node)

    def _stopping(self, node: Any) -> bool:
        """Is the run being stopped (Ctrl-C, -x, --maxfail), so that nothing new may start?"""
        output = getattr(node, "workeroutput", None) or {}
        interrupted = output.get("exitstatus") == 2 or bool(output.get("shouldstop") or output.get("shouldfail"))
        return interrupted or xdist_adapter.shutting_down(self.config)

    @pytest.hookimpl(optionalhook=True)  # xdist's: absent with -p no:xdist
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> LongestFirstScheduling:
        dropped, plan = self.run.dropped, self.run.plan
        self.scheduler = LongestFirstScheduling(
            lambda collection: Plan.load(plan),
            self.planning.capacity,
            log,
            capacity=GridClient(self.grid_url, timeout=2).capacity_now,
            on_drop=lambda nodeid, reason: append_line(dropped, {"nodeid": nodeid, "reason": reason}),
            spawn=self._spawn_worker,
            initial_workers=len(self.assigned),
        )
        return self.scheduler

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Sessions a worker keeps between cells occupy slots; a lost node may have taken slots with
        it, so an infrastructure failure re-reads the Grid first."""
        if self.scheduler is None:
            return
        props = dict(report.user_properties)
        failure = props.get("farm_failure")
        if failure and failure.get("kind") == "infrastructure":
            self.scheduler.distrust_limits()
        if report.when == "teardown" and hasattr(report, "node"):
            farm = props.get("farm") or {}
            self.scheduler.note_held(report.node, int(farm.get("held", 0)))
            self.scheduler.note_opened(str(farm.get("browser", "")), [float(s) for s in farm.get("opened", [])])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Drop the idle sentinel's results, which allure-pytest writes like any item's."""
        alluredir = getattr(session.config.option, "allure_report_dir", None)
        if not alluredir:
            return
        for path in Path(alluredir).glob("*-result.json"):
            with contextlib.suppress(OSError, ValueError):
                if json.loads(path.read_text(encoding="utf-8")).get("name") == IDLE_NAME:
                    path.unlink()


class CellRecorder:
    """One JSON line per finished cell, flushed at once so progress can be followed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.states: dict[str, CellState] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if is_idle_nodeid(report.nodeid):
            return
        state = self.states.setdefault(report.nodeid, CellState())
        if not state.add(report.when, report.outcome, float(getattr(report, "duration", 0.0) or 0.0), dict(report.user_properties)):
            return
        result = self.states.pop(report.nodeid).result(report.nodeid)
        if not result.stop:
            result.stop = time.time()
            result.start = result.start or result.stop - result.duration
        append_line(self.path, result.__dict__)
