"""Measured cell durations, kept per (test id, browser) in one JSON file under reports/, and the
runs they were learned from.

The schedule reads them (longest expected first), so a run must never lose what it did not
measure: a `-k` run, a `-m` run or a run of another folder leaves every other test's durations as
they were. An entry goes only once it has not been measured for `KEEP_DAYS` (its test was removed
or renamed). Each run is learned once, whoever learns it (`farm test`, or `farm report` over a
sharded pipeline's folders): the ids of learned runs are kept beside the durations.

The file is replaced atomically, so a run killed while writing leaves the previous one intact. A
corrupt or foreign file is not fatal: the run warns and falls back to estimates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from farm.core.results import CellResult, used_no_browser
from farm.core.runfolder import load_store, write_json_atomic
from farm.core.schedule import Key

FORMAT = "farm-durations/2"
READABLE = (FORMAT, "farm-history/1")  # /1: no dates or runs; its entries count as measured on the day it is read
FIRST_NAME = "history.json"  # where farm-history/1 was kept, read until the first run writes durations.json
SMOOTHING = 0.5  # weight of the newest measurement: adapts in a run or two, damps one slow outlier
KEEP_DAYS = 90
KEEP_RUNS = 1000  # learned run ids remembered: far more than one pipeline's shards


class HistoryWarning(UserWarning):
    """The durations file could not be used; estimates replace it for this run."""


@dataclass
class Durations:
    seconds: dict[Key, float] = field(default_factory=dict)
    measured_on: dict[Key, str] = field(default_factory=dict)  # ISO date of the latest measurement
    learned_runs: list[str] = field(default_factory=list)  # oldest first
    no_browser: set[str] = field(default_factory=set)  # test ids whose every cell of their latest run opened no browser


def read(path: Path, today: date | None = None) -> Durations:
    day = (today or date.today()).isoformat()
    if not path.exists() and path.with_name(FIRST_NAME).exists():
        path = path.with_name(FIRST_NAME)

    def parse(raw: dict[str, Any]) -> Durations:
        entries = [e for e in raw["durations"] if float(e["seconds"]) >= 0]
        keys = [(str(e["test"]), str(e["browser"])) for e in entries]
        return Durations(
            {k: float(e["seconds"]) for k, e in zip(keys, entries, strict=True)},
            {k: str(e.get("measured_on", day)) for k, e in zip(keys, entries, strict=True)},
            [str(r) for r in raw.get("learned_runs", [])],
            {str(t) for t in raw.get("no_browser", [])},
        )

    return load_store(path, READABLE, parse, HistoryWarning, "using estimates this run") or Durations()


def load(path: Path) -> dict[Key, float]:
    """Expected seconds per (test, browser), for the schedule."""
    return read(path).seconds


def merge(old: Durations, measured: Mapping[Key, float], today: date) -> Durations:
    """Blend new measurements in; keep what was not measured, unless unmeasured for KEEP_DAYS."""
    day, oldest = today.isoformat(), (today - timedelta(days=KEEP_DAYS)).isoformat()
    measured_on = {key: old.measured_on.get(key, day) for key in old.seconds}  # undated: as if measured today
    seconds = {key: s for key, s in old.seconds.items() if measured_on[key] >= oldest}
    measured_on = {key: measured_on[key] for key in seconds}
    for key, s in measured.items():
        seconds[key] = s if key not in seconds else SMOOTHING * s + (1 - SMOOTHING) * seconds[key]
        measured_on[key] = day
    return Durations(seconds, measured_on, list(old.learned_runs), set(old.no_browser))


def learn(old: Durations, run_id: str, results: Iterable[CellResult], today: date) -> Durations | None:
    """`old` with one finished run's durations folded in; None if that run was learned already."""
    if run_id in old.learned_runs:
        return None
    results = list(results)
    new = merge(old, learnable(results), today)
    new.learned_runs = [*new.learned_runs, run_id][-KEEP_RUNS:]
    new.no_browser = browserless_tests(old.no_browser, results)
    return new


def browserless_tests(old: set[str], results: Iterable[CellResult]) -> set[str]:
    """Tests known to open no browser: those whose cells of this run all reached a verdict without a
    session join; one that opened a session anywhere leaves; tests this run did not see keep their state."""
    cells: dict[str, list[CellResult]] = {}
    for result in results:
        cells.setdefault(result.test_id, []).append(result)
    known = set(old)
    for test_id, ran in cells.items():
        if any(r.sessions for r in ran):
            known.discard(test_id)
        elif all(used_no_browser(r) for r in ran):
            known.add(test_id)
    return known


def save(path: Path, durations: Durations) -> None:
    entries = [
        {"test": t, "browser": b, "seconds": round(s, 3), "measured_on": durations.measured_on.get((t, b), "")}
        for (t, b), s in sorted(durations.seconds.items())
    ]
    write_json_atomic(
        path, {"format": FORMAT, "durations": entries, "learned_runs": durations.learned_runs, "no_browser": sorted(durations.no_browser)}
    )


def learnable(results: Iterable[CellResult]) -> dict[Key, float]:
    """Durations worth learning from: cells whose test body ran to a verdict (passed, or failed in
    the call), in one attempt or after test failures only. Not a cell that broke in its fixtures
    (it says nothing of the test's length), nor one re-run after a lost node (its timeout would)."""
    return {
        (r.test_id, r.browser): r.duration
        for r in results
        if (r.status == "passed" or (r.status == "failed" and r.failure_when == "call"))
        and not any(why.startswith("infrastructure") for why in r.retries)
    }
