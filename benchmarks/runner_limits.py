"""How many slots one runner drives: the runner's own CPU and memory per slot during `farm test`.

The browsers run on the Grid's nodes; the runner runs `farm test`, pytest's controller and one
xdist worker per slot (plus the loopback proxy). This runs the uniform suite on chrome with
`--max-sessions` 1 and 2 on one node (a farm of its own), and measures for each run:

* the runner's CPU seconds (the whole `farm test` process tree, from getrusage of the reaped
  children), per cell;
* the peak resident memory of that tree, and the part that grows with the number of workers.

From these it prints how many slots one runner core keeps busy (cell seconds / runner CPU seconds
per cell) and how many slots fit in a given runner memory, which is when `--shard` across CI jobs
beats more slots behind one runner.

    .venv/bin/python benchmarks/runner_limits.py [--tests 40]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from grid_makespan import APP, measured  # benchmarks/grid_makespan.py

SUITE = Path(__file__).parent / "suite_uniform"
NAME, PORT = "farm-runner", "4498"


def farm(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "farm", *args], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=40)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="farm-runner-"))
    env = {
        **os.environ,
        "FARM_NAME": NAME,
        "FARM_HUB_PORT": PORT,
        "FARM_REPORTS_DIR": str(work / "reports"),
        "UNIFORM_TESTS": str(args.tests),
    }
    rows = []
    try:
        for slots in (1, 2):
            farm("up", "--browsers", "chrome", "--nodes", "chrome=1,firefox=0", "--max-sessions", str(slots), env=env)
            command = [sys.executable, "-m", "farm", "test", str(SUITE), "--browsers", "chrome", "--app-dir", str(APP), "--no-report"]
            before = children_cpu()
            wall, peak = measured([*command, "--results-dir", str(work / f"slots-{slots}")], work / f"slots-{slots}.log", env)
            cpu = children_cpu() - before
            cells = json.loads((work / f"slots-{slots}" / "summary.json").read_text())["cells"]
            cell = statistics.mean(c["duration"] for c in cells)
            rows.append({"slots": slots, "wall": wall, "cpu": cpu, "peak_mib": peak / 1024, "cells": len(cells), "cell": cell})
            print(f"  {slots} slot(s): {len(cells)} cells in {wall:.1f}s, runner CPU {cpu:.1f}s, peak {peak / 1024:.0f} MiB", flush=True)
    finally:
        farm("down", env=env)
    one, two = rows
    per_worker = two["peak_mib"] - one["peak_mib"]
    fixed = one["peak_mib"] - per_worker
    print(f"\n{'slots':>5} {'cells':>6} {'wall':>7} {'runner CPU':>11} {'CPU/cell':>9} {'mean cell':>10} {'peak MiB':>9}")
    for r in rows:
        per_cell = r["cpu"] / r["cells"] * 1000
        print(f"{r['slots']:5} {r['cells']:6} {r['wall']:6.1f}s {r['cpu']:10.1f}s {per_cell:7.0f}ms {r['cell']:9.2f}s {r['peak_mib']:9.0f}")
    cpu_per_cell = two["cpu"] / two["cells"]
    print(
        f"\nrunner memory: {fixed:.0f} MiB fixed (farm test, pytest's controller, proxy) + {per_worker:.0f} MiB per slot (one xdist worker)"
    )
    print(f"runner CPU: {cpu_per_cell * 1000:.0f} ms per cell; a cell of {two['cell']:.1f}s keeps one runner core busy for")
    print(f"  {cpu_per_cell / two['cell'] * 100:.1f}% of its time, so one runner core drives about {two['cell'] / cpu_per_cell:.0f} slots")
    print(f"  of such cells; 8 GiB of runner memory hold about {(8192 - fixed) / per_worker:.0f} slots")
    print(f"logs: {work}")


if __name__ == "__main__":
    main()
