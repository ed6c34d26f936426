"""`farm test --isolation context` on real browsers: one kept session per worker, a fresh user
context per cell, and isolation proven per browser; where it cannot be proven, fresh sessions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from farm.cli import main
from tests.conftest import BROWSERS, module_farm_dir

pytestmark = pytest.mark.integration
NAME = "farm-it-isolation"
SUITE = str(Path(__file__).parent / "suites" / "isolation")

farm_dir = module_farm_dir(NAME)


def farm_test(farm_dir: Path, run: str, *args: str) -> tuple[int, dict, Path]:
    results = farm_dir / "reports" / run
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(farm_dir)
        code = main(["test", SUITE, "--browsers", ",".join(BROWSERS), "--results-dir", str(results), "--no-report", *args])
    return code, json.loads((results / "summary.json").read_text()), results


def test_state_of_a_cell_is_invisible_to_the_next_cell_in_the_same_browser(farm_dir):
    """Every test fails if it sees an earlier cell's cookie, storage, IndexedDB or window; with 4
    cells per browser on 2 workers, some session serves at least two of them."""
    code, summary, _results = farm_test(farm_dir, "contexts", "--isolation", "context")
    assert code == 0
    assert len(summary["cells"]) == 8 and {c["status"] for c in summary["cells"]} == {"passed"}
    for browser in BROWSERS:
        cells = [c for c in summary["cells"] if c["browser"] == browser]
        assert {c["isolation"] for c in cells} == {"context"}
        shared = Counter(s["id"] for c in cells for s in c["sessions"])
        assert max(shared.values()) >= 2, f"{browser}: no session served two cells, nothing was proven"
        assert all(len(c["sessions"]) == 1 for c in cells)


def test_a_fresh_session_per_cell_stays_the_default(farm_dir):
    code, summary, _results = farm_test(farm_dir, "sessions")
    assert code == 0
    assert {c["isolation"] for c in summary["cells"]} == {"session"}
    assert len({s["id"] for c in summary["cells"] for s in c["sessions"]}) == 8


def test_unproven_isolation_falls_back_to_fresh_sessions_and_says_so(farm_dir):
    """A grid given by URL: farm has no address the browsers reach this runner at, so it cannot run
    its probe; the cells get fresh sessions and the log says why."""
    port = int(next(line for line in (farm_dir / "farm.toml").read_text().splitlines() if line.startswith("hub_port")).split("=")[1])
    _code, summary, results = farm_test(farm_dir, "unproven", "--isolation", "context", "--grid-url", f"http://127.0.0.1:{port}")
    assert len(summary["cells"]) == 8
    assert {c["isolation"] for c in summary["cells"]} == {"session"}
    assert "isolation cannot be proven without an address the browsers reach this runner at" in (results / "pytest.log").read_text()
