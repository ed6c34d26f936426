"""Measured cell durations, kept per (test id, browser) in one JSON file under reports/.

The file is replaced atomically, so a run killed while writing leaves the previous history intact.
A corrupt or foreign file is not fatal: the run warns and falls back to estimates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from farm.results import CellResult
from farm.runfolder import load_store, write_json_atomic
from farm.schedule import Key

FORMAT = "farm-history/1"
SMOOTHING = 0.5  # weight of the newest measurement: adapts in a run or two, damps one slow outlier


class HistoryWarning(UserWarning):
    """The history file could not be used; estimates replace it for this run."""


def load(path: Path) -> dict[Key, float]:
    def parse(raw: dict[str, Any]) -> dict[Key, float]:
        return {(str(e["test"]), str(e["browser"])): float(e["seconds"]) for e in raw["durations"] if float(e["seconds"]) >= 0}

    return load_store(path, FORMAT, parse, HistoryWarning, "using estimates this run") or {}


def merge(old: Mapping[Key, float], measured: Mapping[Key, float], present_tests: Iterable[str]) -> dict[Key, float]:
    """Blend new measurements into the history and drop tests that no longer exist."""
    present = set(present_tests)
    merged = {key: seconds for key, seconds in old.items() if key[0] in present}
    for key, seconds in measured.items():
        merged[key] = seconds if key not in merged else SMOOTHING * seconds + (1 - SMOOTHING) * merged[key]
    return merged


def save(path: Path, history: Mapping[Key, float]) -> None:
    entries = [{"test": t, "browser": b, "seconds": round(s, 3)} for (t, b), s in sorted(history.items())]
    write_json_atomic(path, {"format": FORMAT, "durations": entries})


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
