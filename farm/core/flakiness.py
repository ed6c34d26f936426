"""Which (test, browser) pairs are flaky: the outcomes of the last runs, kept per cell.

A (test, browser) that has both passed and failed (or broken) within the last WINDOW runs is
flaky: it flips, so a failure of it is not read as a plain regression. The marks never change a
run's exit status. The store is one JSON file beside the durations (reports/outcomes.json),
replaced atomically; a corrupt one is ignored with a warning, as the durations are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from farm.core.results import CellResult
from farm.core.runfolder import load_store, write_json_atomic
from farm.core.schedule import Key

FORMAT = "farm-outcomes/1"
WINDOW = 10  # runs a (test, browser) is judged over
VERDICTS = ("passed", "failed", "broken")  # skipped and not-run cells say nothing about flakiness


class OutcomesWarning(UserWarning):
    """The outcomes file could not be used; flaky marks start afresh."""


def load(path: Path) -> dict[Key, list[str]]:
    def parse(raw: dict[str, Any]) -> dict[Key, list[str]]:
        return {(str(e["test"]), str(e["browser"])): [str(o) for o in e["outcomes"] if o in VERDICTS] for e in raw["cells"]}

    return load_store(path, FORMAT, parse, OutcomesWarning, "flaky marks start afresh") or {}


def record(old: Mapping[Key, list[str]], results: Iterable[CellResult], window: int = WINDOW) -> dict[Key, list[str]]:
    """Append each cell's verdict of this run (oldest first), keeping the last `window` runs."""
    outcomes = {key: list(values) for key, values in old.items()}
    for result in results:
        if result.status in VERDICTS:
            key = (result.test_id, result.browser)
            outcomes[key] = [*outcomes.get(key, []), result.status][-window:]
    return outcomes


def is_flaky(outcomes: list[str]) -> bool:
    return "passed" in outcomes and any(o != "passed" for o in outcomes)


def pass_rate(outcomes: list[str]) -> float | None:
    return round(outcomes.count("passed") / len(outcomes), 3) if outcomes else None


def failed_last_time(outcomes: Mapping[Key, list[str]]) -> set[Key]:
    """Pairs whose latest verdict was a failure: `--failed-first` runs them first."""
    return {key for key, values in outcomes.items() if values and values[-1] != "passed"}


def mark(cells: list[dict], outcomes: Mapping[Key, list[str]]) -> list[str]:
    """Add `flaky` and `pass_rate` (over the window, this run included) to summary cells; returns
    the node ids of the flaky ones. A flaky cell that failed beside other cells also gets `beside`
    (how many ran at the same time): a flip may be theirs, not the test's alone (shared files, a
    shared account), which `farm test --workers 1` tells apart."""
    for cell in cells:
        seen = outcomes.get((cell["test_id"], cell["browser"]), [])
        cell["flaky"], cell["pass_rate"] = is_flaky(seen), pass_rate(seen)
        if cell["flaky"] and cell.get("status") in ("failed", "broken"):
            cell["beside"] = overlapping(cell, cells)
    return [cell["nodeid"] for cell in cells if cell["flaky"]]


def overlapping(cell: Mapping[str, Any], cells: Iterable[Mapping[str, Any]]) -> int:
    """How many other cells of the run were running while `cell` ran."""
    start, stop = float(cell.get("start") or 0), float(cell.get("stop") or 0)
    if not start or not stop:
        return 0
    return sum(
        1 for other in cells if other is not cell and float(other.get("start") or 0) < stop and float(other.get("stop") or 0) > start
    )


def save(path: Path, outcomes: Mapping[Key, list[str]]) -> None:
    cells = [{"test": t, "browser": b, "outcomes": o} for (t, b), o in sorted(outcomes.items())]
    write_json_atomic(path, {"format": FORMAT, "cells": cells})
