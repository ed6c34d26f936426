"""What finished runs teach the next ones: measured durations (the schedule) and verdicts (flaky
marks, --failed-first), kept in the reports folder.

A run is learned once: by `farm test` when it ends, or, for the shards of a CI pipeline (which
must all plan from one snapshot, so never write it), by `farm report` over their folders. Every
later `farm report` of the same folders finds their run ids learned and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from farm.core import durations, flakiness
from farm.core.results import CellResult
from farm.core.runfolder import ReportsFolder, RunFolder
from farm.run.options import TestOptions


def failed_before(reports: ReportsFolder, options: TestOptions) -> frozenset[tuple[str, str]]:
    """--failed-first: the (test, browser) pairs that failed or broke in the previous run."""
    if not options.failed_first:
        return frozenset()
    return frozenset(flakiness.failed_last_time(flakiness.load(reports.outcomes)))


def learn_run(reports: ReportsFolder, run_id: str, results: Iterable[CellResult], today: date | None = None) -> bool:
    """Fold one run's durations and verdicts into the stores, unless it was learned already."""
    results = list(results)
    learned = durations.learn(durations.read(reports.durations), run_id, results, today or date.today())
    if learned is None:
        return False
    durations.save(reports.durations, learned)
    flakiness.save(reports.outcomes, flakiness.record(flakiness.load(reports.outcomes), results))
    return True


def run_id_of(summary: dict, raw: bytes) -> str:
    """The id `farm test` gave the run; a summary written before there were ids is known by its bytes."""
    return str(summary.get("run_id") or hashlib.sha256(raw).hexdigest()[:16])


def learn_from_summaries(folders: list[Path], reports_dir: Path) -> int:
    """Learn the finished runs among `folders` (e.g. every shard of a CI matrix); returns how many
    were new. A half-written or foreign summary teaches nothing."""
    reports, learned = ReportsFolder(reports_dir), 0
    for folder in folders:
        path = RunFolder(folder).summary
        try:
            raw = path.read_bytes()
            summary = json.loads(raw)
            results = [CellResult.from_summary(cell) for cell in summary["cells"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        learned += learn_run(reports, run_id_of(summary, raw), results)
    return learned
