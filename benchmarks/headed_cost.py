"""Headed against headless: the same cells in both modes, per browser, in one `farm test` run.

`benchmarks/suite_headed` opens each test's own local browser, headed or headless by a parameter,
so both modes of every test run on the same grid, interleaved, under the same load. A cell's
time includes opening and quitting its browser, as in a public suite. Prints, per browser and
test, the median cell time of each mode over the rounds and the ratio headed / headless, then
the ratio over all of a browser's cells (the target: at most 1.10).

    .venv/bin/farm up && .venv/bin/python benchmarks/headed_cost.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

SUITE = Path(__file__).resolve().parent / "suite_headed"
FARM = [sys.executable, "-m", "farm"]


def one_round(results: Path, browsers: str) -> list[dict]:
    cmd = [*FARM, "test", str(SUITE), "--browsers", browsers, "--results-dir", str(results), "--no-report"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    cells = json.loads((results / "summary.json").read_text())["cells"]
    failed = [c["nodeid"] for c in cells if c["status"] != "passed"]
    if failed:
        raise SystemExit(f"headed-cost: cells did not pass: {failed}")
    return cells


def mode_of(nodeid: str) -> tuple[str, str]:
    """(test name, mode) from `...::test_x[headed-chrome]` or `[chrome-headed]`."""
    name, _, params = nodeid.partition("[")
    mode = "headed" if "headed" in params.replace("headless", "") else "headless"
    return name.rpartition("::")[2], mode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--browsers", default="chrome,firefox")
    args = parser.parse_args()
    times: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            for cell in one_round(Path(tmp) / f"round-{n}", args.browsers):
                test, mode = mode_of(cell["nodeid"])
                times[(cell["browser"], test, mode)].append(cell["duration"])
    print(f"headed vs headless, {args.rounds} round(s), median cell seconds (browser opened and quit in the cell)")
    print(f"  {'browser':<8} {'test':<36} {'headed':>7} {'headless':>9} {'ratio':>6}")
    worst = 0.0
    for browser in args.browsers.split(","):
        tests = sorted({t for (b, t, _m) in times if b == browser})
        for test in tests:
            headed, headless = (statistics.median(times[(browser, test, m)]) for m in ("headed", "headless"))
            print(f"  {browser:<8} {test:<36} {headed:7.2f} {headless:9.2f} {headed / headless:6.2f}")
        headed_all = sum(sum(times[(browser, t, "headed")]) for t in tests)
        headless_all = sum(sum(times[(browser, t, "headless")]) for t in tests)
        ratio = headed_all / headless_all
        worst = max(worst, ratio)
        print(f"  {browser:<8} {'all cells':<36} {headed_all:7.1f} {headless_all:9.1f} {ratio:6.2f}  (target <= 1.10)")
    print(f"worst browser ratio {worst:.2f}: {'met' if worst <= 1.10 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
