"""Scheduler alone on random instances: farm's longest-first vs collection order vs random order.

Each instance: 1,000 cells over chrome/firefox/edge with 1-4 slots each, durations skewed over
1-20 s (most short, a few long, as real suites are). Prints each policy's makespan as a ratio to
the lower bound, and the time farm takes to compute a schedule (estimates + plan + order).

    .venv/bin/python benchmarks/schedule_sim.py [--instances 50] [--seed 1]
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import time
from collections import defaultdict

from farm.core.matrix import Cell
from farm.core.schedule import Plan, expected_durations, lower_bound, simulate

BROWSERS = ("chrome", "firefox", "edge")


def instance(rng: random.Random, cells: int) -> tuple[list[Cell], dict[str, float], dict[str, int], dict[tuple[str, str], float]]:
    tests = cells // len(BROWSERS)
    speed = {"chrome": 1.0, "firefox": rng.uniform(1.1, 1.6), "edge": rng.uniform(0.9, 1.2)}
    matrix, durations, history = [], {}, {}
    for t in range(tests + 1):
        base = min(20.0, 1.0 + rng.paretovariate(1.6) - 1.0)  # heavy tail: many ~1-3 s, a few up to 20 s
        for browser in BROWSERS:
            if len(matrix) == cells:
                break
            cell = Cell(f"t{t}[{browser}]", f"t{t}", browser)
            matrix.append(cell)
            durations[cell.nodeid] = min(20.0, base * speed[browser])
            if rng.random() < 0.9:  # 10% of cells were never measured: farm must estimate them
                history[(cell.test_id, browser)] = durations[cell.nodeid] * rng.uniform(0.85, 1.15)
    slots = {b: rng.randint(1, 4) for b in BROWSERS}
    return matrix, durations, slots, history


def list_schedule(order: list[Cell], durations: dict[str, float], slots: dict[str, int]) -> float:
    """Real durations, cells taken in the given order, each to its browser's first free slot."""
    free = {b: [0.0] * slots[b] for b in slots}
    for heap in free.values():
        heapq.heapify(heap)
    end = 0.0
    for cell in order:
        start = heapq.heappop(free[cell.browser])
        finish = start + durations[cell.nodeid]
        heapq.heappush(free[cell.browser], finish)
        end = max(end, finish)
    return end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--cells", type=int, nargs="+", default=[1000, 60], help="instance sizes to try")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for size in args.cells:
        run_size(random.Random(args.seed), args.instances, size)


def run_size(rng: random.Random, instances: int, size: int) -> None:
    ratios: dict[str, list[float]] = defaultdict(list)
    compute: list[float] = []
    for _ in range(instances):
        cells, durations, slots, history = instance(rng, size)
        bound = lower_bound(cells, durations, slots)
        started = time.perf_counter()
        expected = expected_durations(cells, history)
        plan = Plan.build(cells, expected, slots)
        order = sorted(cells, key=lambda c: (-float(plan.cells[c.nodeid]["expected"]), c.nodeid))
        compute.append(time.perf_counter() - started)
        shuffled = cells[:]
        rng.shuffle(shuffled)
        ratios["farm longest-first (estimated)"].append(list_schedule(order, durations, slots) / bound)
        ratios["longest-first, exact durations"].append(simulate(cells, durations, slots).makespan / bound)
        ratios["collection order (xdist load)"].append(list_schedule(cells, durations, slots) / bound)
        ratios["random order"].append(list_schedule(shuffled, durations, slots) / bound)
    print(f"\n{instances} instances x {size} cells, browsers {', '.join(BROWSERS)} with 1-4 slots each")
    print(f"{'policy':34} {'mean':>7} {'p95':>7} {'worst':>7}   (makespan / lower bound)")
    for name, values in ratios.items():
        values.sort()
        print(f"{name:34} {statistics.mean(values):7.3f} {values[int(0.95 * (len(values) - 1))]:7.3f} {values[-1]:7.3f}")
    print(
        f"farm schedule computation: median {statistics.median(compute) * 1000:.1f} ms, worst {max(compute) * 1000:.1f} ms per {size} cells"
    )


if __name__ == "__main__":
    main()
