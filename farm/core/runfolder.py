"""The run folder: every file `farm test` and its pytest plugin exchange, named in one place.

`farm test` and the plugin (in pytest's controller and workers) are separate processes; this is
their whole contract. JSON Lines files are appended a line at a time and read tolerating a torn
last line (a killed writer); JSON files are replaced atomically. Pure standard library.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

RUN_PREFIX = "run-"


def append_line(path: Path, record: dict[str, Any]) -> None:
    """One JSON line, appended and closed at once: a reader never waits for the run to end."""
    with path.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps(record) + "\n")


def read_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSON Lines file; a torn or foreign line is skipped, a missing file is empty."""
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                yield record


def load_store(
    path: Path, fmt: str | tuple[str, ...], parse: Callable[[dict[str, Any]], T], warning: type[Warning], fallback: str
) -> T | None:
    """A farm store file (`{"format": fmt, ...}`, or any of a tuple of formats) parsed by `parse`; None when absent, or when corrupt
    or foreign, with a warning that says what happens instead (`fallback`): never fatal."""
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        formats = (fmt,) if isinstance(fmt, str) else fmt
        if raw.get("format") not in formats:
            raise ValueError(f"format is {raw.get('format')!r}, expected {formats[0]!r}")
        return parse(raw)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        warnings.warn(f"ignoring {path}: {exc}; {fallback}", warning, stacklevel=3)
        return None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write-then-rename, so a killed run never leaves a half-written file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _file(name: str, doc: str) -> property:
    """A path inside the folder: each name of the contract is written once, here."""
    return property(lambda self: self.path / name, doc=doc)


@dataclass(frozen=True)
class RunFolder:
    """One run's folder (reports/run-YYYYMMDD-HHMMSS or --results-dir)."""

    path: Path

    # what `farm test` and the plugin exchange while the run goes on
    planning = _file("planning.json", "What `farm test` decided before pytest: capacity, durations snapshot, shard.")
    plan = _file("plan.json", "The planned cells with expected durations, and the capacity (written by the workers as they collect).")
    cells = _file("cells.jsonl", "One line per finished cell, as it finishes (drives the progress line).")
    sessions = _file("sessions.jsonl", "Grid sessions opened, quit and lost, per worker: `farm test` ends what a killed worker left.")
    dropped = _file("dropped.jsonl", "Cells the scheduler could not run (no slot left), with the reason.")

    def started(self) -> bool:
        """Cells ran (or began to): the folder holds results worth keeping."""
        return self.cells.exists()

    # what the run leaves for people and tools
    summary = _file("summary.json", "The run's verdict per cell, counts and makespans.")
    junit = _file("junit.xml", "pytest's JUnit XML.")
    pytest_log = _file("pytest.log", "pytest's output.")
    allure_results = _file("allure-results", "allure-pytest's results, and farm's side files for them.")
    screenshots = _file("screenshots", "Failure screenshots.")
    videos = _file("videos", "Videos of recorded cells (farm test --video).")
    report = _file("report", "The run's own Allure report.")
    pytest_cache = _file(".pytest_cache", "pytest's cache for this run, so nothing is written beside the suite.")


@dataclass(frozen=True)
class ReportsFolder:
    """The reports folder (`reports_dir`): run folders, the durations store, Allure's trend data and
    the combined report. "Durations" are farm's measured seconds per cell (farm.core.durations); "trend" is
    Allure's own history folder, carried from report to report."""

    path: Path

    durations = _file("durations.json", "Measured seconds per (test, browser): farm.core.durations.")
    outcomes = _file("outcomes.json", "Verdicts of the last runs per (test, browser): farm.core.flakiness.")
    trend = _file("allure-history", "Allure's trend data, carried from report to report.")
    trend3 = _file("allure3-history.jsonl", "Allure 3's history, one line per report (`farm report --generator allure3`).")
    report = _file("report", "The combined report of `farm report`.")

    def new_run(self, stamp: str) -> RunFolder:
        """A run folder named after `stamp` that does not exist yet (`.2`, `.3`... on a clash)."""
        path, suffix = self.path / f"{RUN_PREFIX}{stamp}", 1
        while path.exists():
            suffix += 1
            path = self.path / f"{RUN_PREFIX}{stamp}.{suffix}"
        return RunFolder(path)

    def runs(self) -> list[RunFolder]:
        """Run folders holding Allure results, oldest first."""
        found = [RunFolder(p) for p in self.path.glob(f"{RUN_PREFIX}*") if RunFolder(p).allure_results.is_dir()]
        return sorted(found, key=lambda run: run.path.stat().st_mtime)
