"""What runs teach the next ones (farm.run.learning): each run once, sharded or not, durations and verdicts."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from farm.core import durations, flakiness
from farm.core.results import CellResult
from farm.core.runfolder import ReportsFolder, RunFolder
from farm.run.learning import learn_from_summaries


def shard(folder: Path, cells: list[tuple[str, str, float]], run_id: str | None) -> Path:
    """A finished shard's folder as a CI report job downloads it: summary cells carry the run's flaky marks."""
    results = [asdict(CellResult(f"{t}[chrome]", t, "chrome", status, s, 0.0, s, failure_when="call")) for t, status, s in cells]
    summary = {"cells": [{**c, "flaky": False, "pass_rate": 1.0} for c in results], **({"run_id": run_id} if run_id else {})}
    RunFolder(folder).summary.parent.mkdir(parents=True, exist_ok=True)
    RunFolder(folder).summary.write_text(json.dumps(summary))
    return folder


def test_farm_report_learns_each_shard_once_with_its_verdicts(tmp_path):
    reports = ReportsFolder(tmp_path / "reports")
    first = [shard(tmp_path / "p1-s1", [("a", "passed", 10.0)], "p1-s1"), shard(tmp_path / "p1-s2", [("b", "failed", 4.0)], None)]
    assert learn_from_summaries(first, reports.path) == 2
    assert durations.load(reports.durations) == {("a", "chrome"): 10.0, ("b", "chrome"): 4.0}
    assert flakiness.load(reports.outcomes) == {("a", "chrome"): ["passed"], ("b", "chrome"): ["failed"]}

    # the same folders reported again (a second `farm report`, or a re-run report job): nothing changes
    assert learn_from_summaries(first, reports.path) == 0
    assert durations.load(reports.durations) == {("a", "chrome"): 10.0, ("b", "chrome"): 4.0}
    assert flakiness.load(reports.outcomes)[("b", "chrome")] == ["failed"]

    # the next pipeline: b passes, so its verdicts flip and it is flaky
    second = [shard(tmp_path / "p2-s1", [("a", "passed", 20.0)], "p2-s1"), shard(tmp_path / "p2-s2", [("b", "passed", 4.0)], "p2-s2")]
    assert learn_from_summaries(second, reports.path) == 2
    assert durations.load(reports.durations)[("a", "chrome")] == 15.0
    assert flakiness.is_flaky(flakiness.load(reports.outcomes)[("b", "chrome")])


def test_a_half_written_summary_teaches_nothing(tmp_path):
    broken = tmp_path / "run"
    RunFolder(broken).summary.parent.mkdir(parents=True)
    RunFolder(broken).summary.write_text('{"cells": [')
    assert learn_from_summaries([broken, tmp_path / "missing"], tmp_path / "reports") == 0
    assert not ReportsFolder(tmp_path / "reports").durations.exists()
