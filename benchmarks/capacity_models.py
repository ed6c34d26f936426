"""Issue 12's comparison in one sitting: plain xdist against `farm test` on both capacity models.

Same machine, same number of concurrent browsers (4), benchmarks/suite_mixed (18 tests of 0.3-4 s)
x chrome, firefox, on a farm of its own (name farm-bench) that this script starts and removes:

1. Nodes of one browser each (chrome 1 x 2 sessions, firefox 1 x 2): `pytest -n 4 --dist load`
   and `--dist worksteal` (a fresh session per test, as plain xdist suites do), then `farm test`
   with `--isolation session` (a fresh session per cell) and `--isolation context` (a kept session
   per worker, a user context per cell), each after a run that makes its history.
2. The per-cell isolation overhead per browser (benchmarks/isolation_cost.py) on the same grid.
3. Shared nodes (2 nodes x 2 sessions, each serving chrome and firefox): `farm test` with each
   isolation, planned from the same histories.

Prints each run's wall time, its cells' makespan (first start to last stop) against the lower bound
of the capacity model it ran on, farm's ratio to the best xdist mode, the isolation overhead per
browser and the runner's memory per concurrent browser, each next to issue 12's target.

    .venv/bin/python benchmarks/capacity_models.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from grid_makespan import APP, SUITES, measured, pytest_mode  # benchmarks/grid_makespan.py
from isolation_cost import farm_overhead as isolation_overhead  # benchmarks/isolation_cost.py

from farm.core.config import load_config
from farm.infra.farms import FarmLink
from farm.plugin.worker.isolation import probe_site
from farm.run.options import TestOptions
from farm.run.services import application

NAME, PORT = "farm-bench", "4499"
BROWSERS = "chrome,firefox"
CONCURRENT = 4
ISOLATIONS = ("session", "context")
ENV = {**os.environ, "FARM_NAME": NAME, "FARM_HUB_PORT": PORT}


def farm(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "farm", *args], check=True, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def farm_test(work: Path, run: str, isolation: str) -> dict:
    """One `farm test` of the mixed suite; its summary, wall time and peak memory. Each isolation
    has a history of its own (a kept session makes every cell shorter)."""
    env = {**ENV, "FARM_REPORTS_DIR": str(work / f"reports-{isolation}")}
    command = [sys.executable, "-m", "farm", "test", str(SUITES["mixed"]), "--browsers", BROWSERS, "--app-dir", str(APP)]
    command += ["--no-report", "--isolation", isolation, "--results-dir", str(work / run)]
    wall, peak = measured(command, work / f"{run}.log", env)
    summary = json.loads((work / run / "summary.json").read_text())
    return {"wall": wall, "peak_kib": peak, "summary": summary}


def static_split(summary: dict) -> tuple[float, dict[str, int]]:
    """The shortest makespan if each browser kept a fixed share of the pool's sessions (what kept
    sessions do unless one moves, at the cost of opening it again): the best split of the sessions,
    by the cells' measured durations. The pooled bound (work / sessions) assumes free moves."""
    work: dict[str, float] = {}
    for cell in summary["cells"]:
        work[cell["browser"]] = work.get(cell["browser"], 0.0) + cell["duration"]
    sessions = summary["capacity"]["pools"][0]["sessions"]
    browsers = sorted(work)
    best: tuple[float, dict[str, int]] = (float("inf"), {})
    for first in range(1, sessions):  # two browsers: first gets `first`, the other the rest
        split = dict(zip(browsers, (first, sessions - first), strict=True))
        best = min(best, (max(work[b] / split[b] for b in browsers), split), key=lambda pair: pair[0])
    return best


def kept_session_bound(summary: dict, move_cost: float, fixed_split: float) -> float:
    """The lower bound of a pool whose sessions are kept across cells (`--isolation context`): a
    kept session serves one browser, so a pool session serves another browser only after a new
    session opens for it, in a worker of that browser which proves isolation before its first
    cell (farm.plugin.worker.driver: each worker probes its kept session). Either no session ever moves,
    and then each browser has a fixed share of the sessions (no schedule beats the best fixed
    split, `fixed_split` from static_split), or one does, and the pool's sessions carry the cells'
    work plus at least one more open and probe: (work + move_cost) / sessions, where move_cost is
    the cheapest open plus probe of one browser, measured on the idle grid (they come on top of
    the ones each session's first cell already carries; the new worker's start is not counted,
    as it may start before the session frees). The lower of the two bounds every
    schedule that uses all the pool's sessions from the start, taking the cells' measured
    durations as their sizes (as the pooled bound does); the pooled bound (work / sessions) is the
    same with free moves."""
    work = sum(cell["duration"] for cell in summary["cells"])
    sessions = summary["capacity"]["pools"][0]["sessions"]
    longest = max(cell["duration"] for cell in summary["cells"])
    return max(longest, min(fixed_split, (work + move_cost) / sessions))


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8, help="cells of each kind per browser for the isolation overhead")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="farm-capacity-"))
    config = load_config(environ=ENV)
    walls: dict[str, float] = {}
    runs: dict[str, dict] = {}
    try:
        print(f"farm {NAME} on port {PORT}: nodes of one browser each, 1 x 2 sessions per browser", flush=True)
        farm("up", "--browsers", BROWSERS, "--capacity", "browser", "--nodes", "chrome=1,firefox=1", "--max-sessions", "2")
        with FarmLink(config) as link, application(TestOptions(paths=[str(SUITES["mixed"])], app_dir=str(APP)), link) as app:
            for mode in ("load", "worksteal"):
                extra = ["-p", "xdist", "-n", str(CONCURRENT), "--dist", mode]
                walls[f"pytest -n {CONCURRENT} --dist {mode}"] = pytest_mode(
                    config.grid_url, app.base_url, SUITES["mixed"], extra, work / f"{mode}.log"
                )
                print(f"  xdist {mode}: {walls[f'pytest -n {CONCURRENT} --dist {mode}']:.1f}s", flush=True)
        for isolation in ISOLATIONS:
            farm_test(work, f"history-{isolation}", isolation)  # the history the measured runs plan from
            runs[f"per-browser, {isolation}"] = run = farm_test(work, f"per-browser-{isolation}", isolation)
            print(f"  farm test --isolation {isolation}, per-browser nodes: {run['wall']:.1f}s", flush=True)
        print("isolation overhead per cell (benchmarks/isolation_cost.py):", flush=True)
        with FarmLink(config) as farm_link, probe_site(farm_link.gateway()) as url:
            assert url is not None
            overhead = {b: isolation_overhead(config.grid_url, b, url, args.cells) for b in BROWSERS.split(",")}
        print("shared nodes: 2 nodes x 2 sessions, each serving chrome and firefox", flush=True)
        farm("up", "--browsers", BROWSERS, "--capacity", "shared", "--nodes", "chrome=1,firefox=1", "--max-sessions", "2")
        for isolation in ISOLATIONS:
            runs[f"shared, {isolation}"] = run = farm_test(work, f"shared-{isolation}", isolation)
            print(f"  farm test --isolation {isolation}, shared nodes: {run['wall']:.1f}s", flush=True)
    finally:
        farm("down")
    report(walls, runs, overhead)
    print(f"logs: {work}")


def report(walls: dict[str, float], runs: dict[str, dict], overhead: dict[str, dict[str, float]]) -> None:
    best = min(walls.values())
    print(f"\n{'run':34} {'wall':>7} {'cells':>7} {'bound':>7} {'cells/bound':>12} {'wall/best xdist':>16}")
    for name, wall in walls.items():
        print(f"{name:34} {wall:6.1f}s {'':>7} {'':>7} {'':>12} {wall / best:16.2f}")
    for model, run in runs.items():
        mk, wall = run["summary"]["makespan"], run["wall"]
        ratio, name = mk["actual"] / mk["lower_bound"], f"farm test ({model})"
        print(f"{name:34} {wall:6.1f}s {mk['actual']:6.1f}s {mk['lower_bound']:6.1f}s {ratio:12.3f} {wall / best:16.2f}")
    move_cost = min(seconds["open"] + seconds["probe"] for seconds in overhead.values())
    kept: dict[str, float] = {}
    for model, run in runs.items():
        if model == "shared, context":  # with fresh sessions a session moves for free
            seconds, split = static_split(run["summary"])
            actual = run["summary"]["makespan"]["actual"]
            shares = ", ".join(f"{b} {n}" for b, n in split.items())
            print(f"  {model}: best fixed split of the sessions ({shares}) {seconds:.1f}s; cells / that: {actual / seconds:.3f}")
            kept[model] = bound = kept_session_bound(run["summary"], move_cost, seconds)
            print(f"  {model}: kept-session bound (a move costs an open and a probe, {move_cost:.2f}s at the cheapest) {bound:.1f}s")
    print("\ntargets (issue 12):")
    for model, run in runs.items():
        mk, vs_xdist = run["summary"]["makespan"], run["wall"] / best
        ratio = mk["actual"] / mk["lower_bound"]
        if model.endswith("context"):
            print(f"  farm ({model}) <= 0.6 x best xdist: {vs_xdist:.2f} {verdict(vs_xdist <= 0.6)}")
        else:  # the same fresh session per cell as plain xdist: no target, shown for comparison
            print(f"  farm ({model}) / best xdist, a fresh session per cell as in xdist: {vs_xdist:.2f}")
        if model in kept:
            print(f"  makespan ({model}) / pooled bound, moves free: {ratio:.3f}")
            ratio = mk["actual"] / kept[model]
            print(f"  makespan ({model}) <= 1.05 x its lower bound (kept sessions): {ratio:.3f} {verdict(ratio <= 1.05)}")
        else:
            print(f"  makespan ({model}) <= 1.05 x its lower bound: {ratio:.3f} {verdict(ratio <= 1.05)}")
    for browser, seconds in overhead.items():
        cost = seconds["context_overhead"]
        print(f"  isolation overhead {browser} <= 0.3 s per cell: {cost:.2f} s {verdict(cost <= 0.3)}")
    for model, run in runs.items():
        mib = run["peak_kib"] / 1024
        print(f"  runner memory ({model}): {mib:.0f} MiB peak, {mib / CONCURRENT:.0f} MiB per concurrent browser")
    print("  uniform suite, farm test <= 1.03 x plain xdist: benchmarks/uniform_overhead.py")


if __name__ == "__main__":
    main()
