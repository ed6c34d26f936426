"""The same matrix on the same grid: sequential, pytest-xdist (load, worksteal) and `farm test`.

Suite: benchmarks/suite (30 tests with skewed durations, 1-20 s) or, with `--suite mixed`,
benchmarks/suite_mixed (18 tests of 0.3-4 s) x chrome, firefox on the farm's own grid (`farm up`,
1 node of 2 slots per browser); the xdist modes open a fresh session per test (farm's plugin
without `farm test`), `farm test` runs with `--isolation session` (default) or `context`. Prints each mode's makespan (wall time of the
whole command), its ratio to the lower bound (max over browsers of max(longest cell, total cell
time / slots), from farm's measured cells), farm's ratio to the best xdist mode, farm's own
overhead per cell (worker idle time between a cell's end and its next cell's start while work was
pending), the peak memory of farm test's process tree per slot, and the session start / quit
time per browser through the farm.

    .venv/bin/farm up --browsers chrome,firefox && .venv/bin/python benchmarks/grid_makespan.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from soak import status_kib, tree_of  # benchmarks/soak.py

from farm.core.config import load_config
from farm.core.matrix import Cell
from farm.core.schedule import lower_bound
from farm.infra.browsers import open_session
from farm.infra.farms import FarmLink
from farm.infra.grid import GridClient
from farm.run.options import TestOptions
from farm.run.services import application

SUITES = {"skewed": Path(__file__).parent / "suite", "mixed": Path(__file__).parent / "suite_mixed"}
APP = Path(__file__).resolve().parents[1] / "suites" / "demo" / "app"  # its delayed.html drives the waits
BROWSERS = "chrome,firefox"


def timed(command: list[str], log: Path, env: dict[str, str] | None = None) -> float:
    return measured(command, log, env)[0]


def measured(command: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall time, and the peak resident memory (KiB) of the command's whole process tree."""
    started = time.monotonic()
    peak = 0
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        while proc.poll() is None:
            peak = max(peak, sum(status_kib(p, "VmRSS") for p in tree_of(proc.pid)))
            time.sleep(0.25)
    return time.monotonic() - started, peak


def pytest_mode(grid: str, base_url: str, suite: Path, extra: list[str], log: Path) -> float:
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(suite),
        "-q",
        "-p",
        "no:cacheprovider",
        "--farm-browsers",
        BROWSERS,
        "--farm-grid-url",
        grid,
        "--farm-base-url",
        base_url,
        *extra,
    ]
    return timed(command, log)


def session_times(grid: str, rounds: int) -> dict[str, tuple[float, float]]:
    times: dict[str, tuple[float, float]] = {}
    for browser in BROWSERS.split(","):
        starts, quits = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            driver = open_session(grid, browser)
            t1 = time.perf_counter()
            driver.get("about:blank")
            t2 = time.perf_counter()
            driver.quit()
            starts.append(t1 - t0)
            quits.append(time.perf_counter() - t2)
        times[browser] = (statistics.median(starts), statistics.median(quits))
    return times


def farm_overhead(cells: list[dict]) -> float:
    """Mean gap per cell between one cell's stop and the next start on the same worker."""
    by_worker: dict[str, list[dict]] = defaultdict(list)
    for cell in cells:
        by_worker[cell["worker"]].append(cell)
    gaps = []
    for worker_cells in by_worker.values():
        worker_cells.sort(key=lambda c: c["start"])
        gaps += [b["start"] - a["stop"] for a, b in itertools.pairwise(worker_cells)]
    return statistics.mean(gaps) if gaps else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-sequential", action="store_true", help="leave out the (slow) sequential run")
    parser.add_argument("--session-rounds", type=int, default=5)
    parser.add_argument("--suite", choices=sorted(SUITES), default="skewed", help="skewed: 30 tests of 1-20 s; mixed: 18 of 0.3-4 s")
    parser.add_argument("--isolation", choices=("session", "context"), default="session", help="farm test --isolation")
    args = parser.parse_args()
    suite = SUITES[args.suite]
    config = load_config()
    grid = config.grid_url
    slots = {b: n for b, n in GridClient(grid).status().slots().items() if b in BROWSERS.split(",")}
    workers = sum(slots.values())
    print(f"grid {grid}: slots {slots}; suite {suite.name} x {BROWSERS}; farm test --isolation {args.isolation}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="farm-bench-"))
    results: dict[str, float] = {}
    with FarmLink(config) as link, application(TestOptions(paths=[str(suite)], app_dir=str(APP)), link) as app:
        base_url = app.base_url
        if not args.skip_sequential:
            results["sequential"] = pytest_mode(grid, base_url, suite, [], work / "sequential.log")
            print(f"  sequential done: {results['sequential']:.1f}s", flush=True)
        for mode in ("load", "worksteal"):
            results[f"xdist --dist {mode}"] = pytest_mode(
                grid, base_url, suite, ["-p", "xdist", "-n", str(workers), "--dist", mode], work / f"{mode}.log"
            )
            print(f"  xdist {mode} done: {results[f'xdist --dist {mode}']:.1f}s", flush=True)
    # farm's runs keep their history in the benchmark's own folder, not in the project's reports/
    env = {**os.environ, "FARM_REPORTS_DIR": str(work / "reports")}
    farm = [sys.executable, "-m", "farm", "test", str(suite), "--browsers", BROWSERS, "--app-dir", str(APP), "--no-report"]
    farm += ["--isolation", args.isolation]
    first = timed([*farm, "--results-dir", str(work / "farm-1")], work / "farm-1.log", env)
    print(f"  farm test, first run (no history): {first:.1f}s", flush=True)
    results["farm test (history present)"], farm_peak = measured([*farm, "--results-dir", str(work / "farm-2")], work / "farm-2.log", env)
    summary = json.loads((work / "farm-2" / "summary.json").read_text())
    cells = summary["cells"]
    bound = lower_bound([Cell(c["nodeid"], c["test_id"], c["browser"]) for c in cells], {c["nodeid"]: c["duration"] for c in cells}, slots)
    best_xdist = min(v for k, v in results.items() if k.startswith("xdist"))
    farm_time = results["farm test (history present)"]
    print(f"\nlower bound {bound:.1f}s (from farm's measured cells; {len(cells)} cells, {summary['counts']['passed']} passed)")
    print(f"{'mode':30} {'makespan':>9} {'/ bound':>8}")
    for mode, seconds in results.items():
        print(f"{mode:30} {seconds:8.1f}s {seconds / bound:8.2f}")
    print(f"farm test first run (no history, estimates only): {first:.1f}s ({first / bound:.2f} x bound)")
    print(f"farm / best xdist mode: {farm_time / best_xdist:.2f}")
    per_slot = farm_peak / 1024 / workers
    print(f"runner memory: farm test's process tree peaked at {farm_peak / 1024:.0f} MiB, {per_slot:.0f} MiB per slot ({workers} slots)")
    mk = summary["makespan"]
    print(f"farm cells: first start to last stop {mk['actual']:.1f}s (predicted {mk['predicted']:.1f}s); wall time adds start-up")
    print(f"farm overhead per cell (dispatch + result writing between cells on a worker): {farm_overhead(cells) * 1000:.0f} ms")
    for browser, (start, quit_) in session_times(grid, args.session_rounds).items():
        print(f"{browser}: session start {start:.2f}s, quit {quit_:.2f}s (median of {args.session_rounds})")
    print(f"logs: {work}")


if __name__ == "__main__":
    main()
