"""Farm's overhead where ordering cannot help: uniform tests on one browser, plain xdist vs `farm test`.

Suite: benchmarks/suite_uniform (UNIFORM_TESTS tests, default 60, each 1 s of page time) on chrome
alone, on the farm's own grid (`farm up`). Plain xdist is `pytest -n SLOTS` with farm's plugin
outside `farm test` (it only parametrizes the browser and opens a fresh session per test); `farm
test --no-report` runs the same suite the way users run it: its own collection, longest-first
dispatch, session watch, console listener, results and history. Rounds alternate the two, in
turn first (plain-farm, farm-plain, ...), so a slow moment of the machine hits both alike. Prints
each run, the medians, farm / plain as the ratio of the medians and as the median of the rounds'
ratios, and the CPU time of each run's whole process tree with the app server and loopback proxy
that serve it (a figure the machine's noise moves far less than wall time: what farm adds per cell).

    .venv/bin/farm up && .venv/bin/python benchmarks/uniform_overhead.py --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

from grid_makespan import APP, timed  # benchmarks/grid_makespan.py

from farm.core.config import load_config
from farm.infra.farms import FarmLink
from farm.infra.grid import GridClient
from farm.run.options import TestOptions
from farm.run.services import application

SUITE = Path(__file__).parent / "suite_uniform"
BROWSER = "chrome"


def own_cpu() -> float:
    """CPU seconds of this process (all its threads: the app server plain xdist's browsers use) and
    of its running children (the loopback proxy's acceptor), which RUSAGE_CHILDREN counts only once
    they are reaped."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    seconds = own.ru_utime + own.ru_stime
    for child in multiprocessing.active_children():
        with contextlib.suppress(OSError, ValueError):
            fields = Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()
            seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return seconds


def timed_cpu(command: list[str], log: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and the CPU seconds (user + system) of the command's process tree, plus what this
    process spent meanwhile: plain xdist's app and proxy run here, farm's run in `farm test`."""
    before, before_own = resource.getrusage(resource.RUSAGE_CHILDREN), own_cpu()
    wall = timed(command, log, env)
    after, after_own = resource.getrusage(resource.RUSAGE_CHILDREN), own_cpu()
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) + after_own - before_own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tests", type=int, default=60)
    args = parser.parse_args()
    config = load_config()
    grid = config.grid_url
    slots = GridClient(grid).status().slots().get(BROWSER, 0)
    work = Path(tempfile.mkdtemp(prefix="farm-uniform-"))
    env = {**os.environ, "UNIFORM_TESTS": str(args.tests), "FARM_REPORTS_DIR": str(work / "reports")}
    print(f"grid {grid}: {slots} {BROWSER} slots; {args.tests} uniform tests; {args.rounds} rounds", flush=True)
    farm = [sys.executable, "-m", "farm", "test", str(SUITE), "--browsers", BROWSER, "--app-dir", str(APP), "--no-report"]
    timed([*farm, "--results-dir", str(work / "warm-up")], work / "warm-up.log", env)  # history, and a warm disk cache
    plain_times: list[float] = []
    farm_times: list[float] = []
    plain_cpu: list[float] = []
    farm_cpu: list[float] = []
    with FarmLink(config) as link, application(TestOptions(paths=[str(SUITE)], app_dir=str(APP)), link) as app:
        plain = [sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider", "-p", "xdist", "-n", str(slots)]
        plain += ["--farm-browsers", BROWSER, "--farm-grid-url", grid, "--farm-base-url", app.base_url]
        for round_ in range(args.rounds):
            runs = {
                "plain": lambda r=round_: timed_cpu(plain, work / f"plain-{r}.log", env),
                "farm": lambda r=round_: timed_cpu([*farm, "--results-dir", str(work / f"farm-{r}")], work / f"farm-{r}.log", env),
            }
            measured = {name: runs[name]() for name in (("plain", "farm") if round_ % 2 == 0 else ("farm", "plain"))}
            for name, walls, cpus in (("plain", plain_times, plain_cpu), ("farm", farm_times, farm_cpu)):
                walls.append(measured[name][0])
                cpus.append(measured[name][1])
            summary = json.loads((work / f"farm-{round_}" / "summary.json").read_text())
            print(
                f"  round {round_ + 1}: plain xdist {plain_times[-1]:.1f}s, farm test {farm_times[-1]:.1f}s "
                f"(cells {summary['makespan']['actual']:.1f}s of it, {summary['counts']['passed']} passed); "
                f"ratio {farm_times[-1] / plain_times[-1]:.3f}; CPU {plain_cpu[-1]:.1f}s vs {farm_cpu[-1]:.1f}s",
                flush=True,
            )
    plain_median, farm_median = statistics.median(plain_times), statistics.median(farm_times)
    ratios = [f / p for f, p in zip(farm_times, plain_times, strict=True)]
    extra_cpu = statistics.median(f - p for f, p in zip(farm_cpu, plain_cpu, strict=True))
    print(f"\nplain pytest -n {slots}: median {plain_median:.1f}s  {[round(t, 1) for t in plain_times]}")
    print(f"farm test --no-report: median {farm_median:.1f}s  {[round(t, 1) for t in farm_times]}")
    by_round = statistics.median(ratios)
    print(f"farm / plain xdist: {farm_median / plain_median:.3f} (medians), {by_round:.3f} (median of the rounds' ratios); target <= 1.03")
    print(
        f"CPU of the process tree: plain {statistics.median(plain_cpu):.1f}s, farm {statistics.median(farm_cpu):.1f}s; "
        f"farm adds {extra_cpu:.1f}s ({extra_cpu / args.tests * 1000:.0f} ms per cell, fixed part included)"
    )
    print(f"logs: {work}")


if __name__ == "__main__":
    main()
