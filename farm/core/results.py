"""Cell results: folding pytest reports into one outcome per cell, and the run's summary.json.

Pure logic, fed by the plugin's recorder (in the pytest controller) and read by `farm test`.
Statuses follow Allure (farm.core.failures): passed, failed (an assertion or pytest.fail: the product is
wrong), broken (any other error: the test's, the infrastructure's, or a session of the wrong
browser), skipped.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from farm.core.capacity import Capacity
from farm.core.errors import ExitCode
from farm.core.matrix import Cell
from farm.core.runfolder import read_lines
from farm.core.schedule import Plan, as_capacity, lower_bound, revised_makespan

STATUSES = ("passed", "failed", "broken", "skipped")


@dataclass
class CellResult:
    nodeid: str
    test_id: str
    browser: str
    status: str
    duration: float
    start: float
    stop: float
    attempts: int = 1
    node: str = ""
    worker: str = ""
    browser_version: str = ""
    failure_kind: str = ""  # product | test | infrastructure | identity (farm.core.failures)
    failure_when: str = ""  # setup | call | teardown, or ??? for a crashed worker
    message: str = ""
    screenshot: str = ""
    retries: list[str] = field(default_factory=list)  # why earlier attempts were re-run: "kind: message"
    sessions: list[dict[str, str]] = field(default_factory=list)  # every session the cell used, as the Grid reported it
    js_errors: int = 0  # uncaught JavaScript errors its pages raised (BiDi log.entryAdded)
    console_errors: int = 0  # console.error calls of its pages
    videos: list[str] = field(default_factory=list)  # farm test --video: files in the run's videos/
    isolation: str = ""  # farm's own driver: "context" (a user context in a kept session) or "session"

    @classmethod
    def from_summary(cls, cell: Mapping[str, Any]) -> CellResult:
        """A cell of a summary.json, which also carries what the run added (flaky marks, pass rate)."""
        return cls(**{f.name: cell[f.name] for f in fields(cls) if f.name in cell})


@dataclass
class CellState:
    """Reports of one cell's current attempt, folded as they arrive."""

    failures: list[dict[str, str]] = field(default_factory=list)
    skipped: bool = False
    rerun: bool = False
    attempts: int = 1
    duration: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    retries: list[str] = field(default_factory=list)

    def add(self, when: str, outcome: str, duration: float, props: Mapping[str, Any]) -> bool:
        """Fold one report in; True when the cell is complete (its last teardown, or a crash)."""
        if self.rerun and when == "setup":  # pytest-rerunfailures 16.1 and older log no teardown for a rerun attempt
            self._next_attempt()
        self.duration += duration
        first_start = self.info.get("start")
        self.info.update(props.get("farm", {}))
        if first_start:  # a rerun's start must not hide the time the first attempt took
            self.info["start"] = first_start
        if outcome == "rerun":
            self.rerun = True
            failure = props.get("farm_failure") or {"kind": "test", "message": ""}
            self.retries.append(f"{failure.get('kind', 'test')}: {str(failure.get('message', ''))[:300]}")
        elif outcome == "failed":
            failure = dict(props.get("farm_failure") or {"kind": "test", "message": ""})
            failure["when"] = when
            if when == "???":
                failure.update(
                    kind="infrastructure", status="broken", message=failure.get("message") or "the pytest worker crashed running this cell"
                )
            self.failures.append(failure)
        elif outcome == "skipped":
            self.skipped = True
        if when not in ("teardown", "???"):
            return False
        if self.rerun and when == "teardown":
            self._next_attempt()
            return False
        return True

    def _next_attempt(self) -> None:
        self.rerun, self.failures, self.skipped = False, [], False
        for key in ("screenshot", "videos"):
            self.info.pop(key, None)  # evidence of the failed attempt stays in Allure
        self.attempts += 1

    def status(self) -> str:
        """The first failure decides, as in Allure (a teardown error does not hide a failed call)."""
        if self.failures:
            return str(self.failures[0].get("status") or "broken")
        return "skipped" if self.skipped else "passed"

    def result(self, nodeid: str) -> CellResult:
        info = self.info
        first = self.failures[0] if self.failures else {}
        return CellResult(
            nodeid=nodeid,
            test_id=str(info.get("test_id", nodeid)),
            browser=str(info.get("browser", "")),
            status=self.status(),
            duration=round(self.duration, 3),
            start=float(info.get("start", 0.0)),
            stop=float(info.get("stop", 0.0)),
            attempts=self.attempts,
            node=str(info.get("node", "")),
            worker=str(info.get("worker", "")),
            browser_version=str(info.get("browser_version", "")),
            failure_kind=first.get("kind", ""),
            failure_when=first.get("when", ""),
            message=first.get("message", "")[:500],
            screenshot=str(info.get("screenshot", "")),
            retries=list(self.retries),
            sessions=list(info.get("sessions", [])),
            js_errors=int(info.get("js_errors", 0)),
            console_errors=int(info.get("console_errors", 0)),
            videos=list(info.get("videos", [])),
            isolation=str(info.get("isolation", "")),
        )


def read_cells(path: Path) -> list[CellResult]:
    """Cells from the recorder's JSON lines; a torn last line (killed writer) is skipped."""
    results: list[CellResult] = []
    for record in read_lines(path):
        with contextlib.suppress(TypeError):
            results.append(CellResult(**record))
    return results


def used_no_browser(result: CellResult) -> bool:
    """A cell whose test ran to a verdict without ever opening a browser session (a log helper, a
    version parser): its browser label would claim something that did not happen."""
    return not result.sessions and (result.status == "passed" or (result.status == "failed" and result.failure_when == "call"))


def summarize(
    results: Iterable[CellResult],
    planned: Iterable[Cell],
    capacity: Capacity | Mapping[str, int],
    predicted: float,
    why_not_run: Mapping[str, str] | None = None,
    stopped: str = "",
) -> dict[str, Any]:
    """The run's summary.json: per cell, counts, and makespan against prediction and lower bound.

    Every planned cell is accounted for: it has a result, or it is in `not_run` with a reason (the
    scheduler's, e.g. no slot left for its browser, else why the run stopped).
    """
    results = list(results)
    planned = list(planned)
    capacity = as_capacity(capacity)
    done = {r.nodeid for r in results}
    missing = sorted((c for c in planned if c.nodeid not in done), key=lambda c: c.nodeid)
    fallback = f"not run: the run stopped ({stopped})" if stopped else "not run: no result came back for it"
    reasons = why_not_run or {}
    not_run = [{"nodeid": c.nodeid, "test_id": c.test_id, "browser": c.browser, "reason": reasons.get(c.nodeid, fallback)} for c in missing]
    starts = [r.start for r in results if r.start]
    stops = [r.stop for r in results if r.stop]
    actual = (max(stops) - min(starts)) if starts and stops else 0.0
    measured = {r.nodeid: r.duration for r in results}
    cells = [Cell(r.nodeid, r.test_id, r.browser) for r in results]
    counts = {status: sum(1 for r in results if r.status == status) for status in STATUSES}
    infrastructure_retries = sum(1 for r in results for why in r.retries if why.startswith("infrastructure"))
    return {
        "format": "farm-summary/1",
        "cells": [asdict(r) for r in sorted(results, key=lambda r: (r.test_id, r.browser))],
        "counts": counts,
        "total": len(planned),
        "not_run": [c["nodeid"] for c in not_run],
        "no_browser": sorted(r.nodeid for r in results if used_no_browser(r)),
        "not_run_cells": not_run,
        "infrastructure_retries": infrastructure_retries,
        "slots": dict(capacity.slots),
        "capacity": {"model": capacity.model, **capacity.to_json()},
        "makespan": {
            "predicted": round(predicted, 3),
            "actual": round(actual, 3),
            "lower_bound": round(lower_bound(cells, measured, capacity), 3),
        },
    }


def describe_progress(results: list[CellResult], total: int, started: float, plan: Plan) -> str:
    """`12/40 cells: 9 passed, 1 failed, 2 broken; 30s elapsed, ~45s left` (no estimate once all are done)."""
    counts = {status: sum(1 for r in results if r.status == status) for status in ("passed", "failed", "broken", "skipped")}
    done = len(results)
    elapsed = time.monotonic() - started
    line = f"{done}/{total} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == "passed") + f"; {elapsed:.0f}s elapsed"
    if done >= total:
        return line
    finished = {r.nodeid: r.duration for r in results}
    remaining_work = sum(float(c["expected"]) for n, c in plan.cells.items() if n not in finished)
    remaining = max(revised_makespan(plan, finished) - elapsed, remaining_work / max(1, sum(plan.slots.values())), 0.0)
    return line + f", ~{remaining:.0f}s left"


def first_round_revision(results: Iterable[CellResult], plan: Plan) -> dict[str, float] | None:
    """What the run's prediction became once its first round of cells (one per initial worker) had
    finished, for a plan made on guesses; None when nothing was guessed or too little finished."""
    if not any(cell.get("guess", plan.estimated) for cell in plan.cells.values()):
        return None
    first = sorted((r for r in results if r.stop), key=lambda r: r.stop)[: plan.capacity.initial_workers()]
    if not first or len(first) >= len(plan.cells):
        return None
    return {"cells": len(first), "makespan": round(revised_makespan(plan, {r.nodeid: r.duration for r in first}), 3)}


def describe_lost_slots(planned: dict[str, int], now: dict[str, int] | None) -> str:
    """'' while every browser has its slots; else which browsers lost how many (nodes DOWN)."""
    if now is None:
        return ""
    short = [f"{b} {now.get(b, 0)} of {n}" for b, n in planned.items() if now.get(b, 0) < n]
    return ("slots up: " + ", ".join(short) + " (a node is down; its cells run again on what is left)") if short else ""


# Why farm stopped a run before its end (summary.json's "stopped"), and the exit status of each.
INTERRUPTED, HURRIED, TERMINATED, GRID_LOST = "interrupted", "interrupted twice", "terminated", "grid lost"
STOP_EXIT = {
    INTERRUPTED: ExitCode.INTERRUPTED,
    HURRIED: ExitCode.INTERRUPTED,  # a second Ctrl-C: out at once, no report
    TERMINATED: ExitCode.TERMINATED,
    GRID_LOST: ExitCode.INFRASTRUCTURE,
}


def exit_code_of(summary: Mapping[str, Any], pytest_exit: int, stopped: str = "") -> ExitCode:
    """Why the run stopped, if farm stopped it; else 3 when the matrix could not be run whole (cells
    not run, or pytest itself interrupted, crashed or misused), 1 when cells failed or broke, else 0."""
    if stopped:
        return STOP_EXIT[stopped]
    counts = summary["counts"]
    if summary["not_run"] or pytest_exit in (2, 3, 4):  # pytest itself interrupted, crashed or misused
        return ExitCode.INFRASTRUCTURE
    if counts["failed"] or counts["broken"]:
        return ExitCode.TESTS_FAILED
    return ExitCode.OK
