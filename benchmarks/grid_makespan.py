"""The same matrix on the same grid: sequential, pytest-xdist (load, worksteal) and `farm test`.

Suite: benchmarks/suite (30 tests with skewed durations, 1-20 s) or, with `--suite mixed`,
benchmarks/suite_mixed (18 tests of 0.3-4 s) x chrome, firefox on the farm's own grid (`farm up`,
1 node of 2 slots per browser); the xdist modes open a fresh session per test (farm's plugin
without `farm test`), `farm test` runs with its default (`--isolation context`: kept sessions, a
fresh browser context per cell) and with `--isolation session` (a fresh session per cell), side by
side in one sitting (`--isolation` runs one of them only). Prints each mode's makespan (wall time of the
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


def farm_runs(suite: Path, isolation: str, work: Path, env: dict[str, str]) -> tuple[float, float, int, dict]:
    """`farm test` twice with one isolation: the first run (no history) and the second (planned from
    the first's durations): wall times, the second's peak memory and its summary."""
    farm = [sys.executable, "-m", "farm", "test", str(suite), "--browsers", BROWSERS, "--app-dir", str(APP), "--no-report"]
    farm += ["--isolation", isolation]
    env = {**env, "FARM_REPORTS_DIR": str(work / f"reports-{isolation}")}  # each isolation learns its own durations
    first = timed([*farm, "--results-dir", str(work / f"farm-{isolation}-1")], work / f"farm-{isolation}-1.log", env)
    print(f"  farm test --isolation {isolation}, first run (no history): {first:.1f}s", flush=True)
    second, peak = measured([*farm, "--results-dir", str(work / f"farm-{isolation}-2")], work / f"farm-{isolation}-2.log", env)
    print(f"  farm test --isolation {isolation}, second run: {second:.1f}s", flush=True)
    return first, second, peak, json.loads((work / f"farm-{isolation}-2" / "summary.json").read_text())


def report_farm(label: str, first: float, second: float, peak_mib: float, summary: dict, slots: dict[str, int], best: float) -> None:
    cells = summary["cells"]
    durations = {c["nodeid"]: c["duration"] for c in cells}
    bound = lower_bound([Cell(c["nodeid"], c["test_id"], c["browser"]) for c in cells], durations, slots)
    actual = summary["makespan"]["actual"]
    isolation = sorted({str(c.get("isolation")) for c in cells})
    print(f"\n{label}: {second:.1f}s with history, {first:.1f}s on the first run (no history)")
    print(f"  {len(cells)} cells, {summary['counts']['passed']} passed; isolation per cell: {isolation}")
    print(f"  cells' lower bound {bound:.1f}s; first start to last stop {actual:.1f}s ({actual / bound:.3f} x bound)")
    print(f"  / best xdist mode: {second / best:.2f}; runner memory {peak_mib:.0f} MiB, {peak_mib / sum(slots.values()):.0f} MiB per slot")
    print(f"  overhead per cell (dispatch + result writing between cells on a worker): {farm_overhead(cells) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-sequential", action="store_true", help="leave out the (slow) sequential run")
    parser.add_argument("--session-rounds", type=int, default=5)
    parser.add_argument("--suite", choices=sorted(SUITES), default="skewed", help="skewed: 30 tests of 1-20 s; mixed: 18 of 0.3-4 s")
    parser.add_argument("--isolation", choices=("both", "session", "context"), default="both", help="farm test --isolation")
    args = parser.parse_args()
    suite = SUITES[args.suite]
    config = load_config()
    grid = config.grid_url
    slots = {b: n for b, n in GridClient(grid).status().slots().items() if b in BROWSERS.split(",")}
    workers = sum(slots.values())
    print(f"grid {grid}: slots {slots}; suite {suite.name} x {BROWSERS}", flush=True)
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
    isolations = ("context", "session") if args.isolation == "both" else (args.isolation,)
    runs = {isolation: farm_runs(suite, isolation, work, env) for isolation in isolations}
    best_xdist = min(v for k, v in results.items() if k.startswith("xdist"))
    for isolation, (first, second, peak, summary) in runs.items():
        label = "farm test (default, context)" if isolation == "context" else "farm test --isolation session"
        results[label] = second
        report_farm(label, first, second, peak / 1024, summary, slots, best_xdist)
    print(f"\n{'mode':34} {'wall time':>9} {'/ best xdist':>13}")
    for mode, seconds in results.items():
        print(f"{mode:34} {seconds:8.1f}s {seconds / best_xdist:13.2f}")
    for browser, (start, quit_) in session_times(grid, args.session_rounds).items():
        print(f"{browser}: session start {start:.2f}s, quit {quit_:.2f}s (median of {args.session_rounds})")
    print(f"logs: {work}")


if __name__ == "__main__":
    main()
