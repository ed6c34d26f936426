"""The Grid servers' JVM options: `farm up` to ready and the cost of a command through the Grid.

Each variant starts the same farm (`farm-bench-jvm`, port 4496: hub, a chrome and a firefox node)
with SE_JAVA_OPTS set on every container, then opens one session per browser and times 100
`execute_script` round trips (client -> hub -> node -> driver -> browser and back) and a page load.
The variants take turns, round after round, on one machine:
- "C2 (before)": the JIT's default tiers, G1 (what the images ran before);
- "C1 only": `-XX:TieredStopAtLevel=1`, no optimizing compiler: less CPU spent compiling at start;
- "C1 + Serial": also `-XX:+UseSerialGC`, no parallel GC threads for a heap of a few hundred MiB.
The images now set C1 + Serial; the variants set it explicitly, so each is what its name says.
`--set thresholds` compares C1 + Serial with its compile thresholds scaled by 3 and by 10 (fewer
compilations while a server starts). Prints each run, the medians per variant and the ratios to
the set's first variant.

    .venv/bin/python benchmarks/grid_jvm.py [--rounds 3] [--set jit|thresholds]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from selenium import webdriver

NAME, PORT = "farm-bench-jvm", 4496
HEAP = {"hub": "-Xmx512m", "node": "-Xmx384m"}
SETS = {
    "jit": {
        "C2 (before)": "-XX:TieredStopAtLevel=4 -XX:+UseG1GC",
        "C1 only": "-XX:TieredStopAtLevel=1 -XX:+UseG1GC",
        "C1 + Serial": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    },
    # Fewer compilations at start: half a JVM's start is C1 compiling (-XX:+CITime on a hub).
    "thresholds": {
        "C1 + Serial": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        "thresholds x3": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:CompileThresholdScaling=3",
        "thresholds x10": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:CompileThresholdScaling=10",
    },
}
# `farm up` with SE_JAVA_OPTS on every container it starts (the images' own value otherwise).
WITH_OPTIONS = """
import dataclasses, sys
from farm.cli.main import main
from farm.infra import engine

run = engine.Engine.run
def with_options(self, spec):
    heap = {heap!r}["hub" if spec.name.endswith("-hub") else "node"]
    return run(self, dataclasses.replace(spec, environment={{**spec.environment, "SE_JAVA_OPTS": heap + " " + {options!r}}}))
engine.Engine.run = with_options
sys.exit(main(sys.argv[1:]))
"""
PAGE = "data:text/html,<title>t</title><p id=p>p</p>"


def commands(browser: str) -> tuple[float, float]:
    """Milliseconds: the median of 100 execute_script round trips, and of 5 page loads."""
    options = webdriver.ChromeOptions() if browser == "chrome" else webdriver.FirefoxOptions()
    options.add_argument("--headless=new" if browser == "chrome" else "-headless")
    driver = webdriver.Remote(f"http://127.0.0.1:{PORT}", options=options)
    try:
        for _ in range(20):  # warm the path: the first commands pay for class loading
            driver.execute_script("return 1")
        rounds = []
        for _ in range(100):
            started = time.perf_counter()
            driver.execute_script("return 1")
            rounds.append((time.perf_counter() - started) * 1000)
        loads = []
        for _ in range(5):
            started = time.perf_counter()
            driver.get(PAGE)
            loads.append((time.perf_counter() - started) * 1000)
        return statistics.median(rounds), statistics.median(loads)
    finally:
        driver.quit()


def one_run(options: str, folder: str) -> dict[str, float]:
    up = [sys.executable, "-c", WITH_OPTIONS.format(heap=HEAP, options=options)]
    up += ["up", "--name", NAME, "--port", str(PORT), "--browsers", "chrome,firefox"]
    started = time.monotonic()
    subprocess.run(up, cwd=folder, check=True, capture_output=True)
    figures = {"farm up s": time.monotonic() - started}
    try:
        for browser in ("chrome", "firefox"):
            figures[f"{browser} command ms"], figures[f"{browser} page ms"] = commands(browser)
    finally:
        subprocess.run([sys.executable, "-m", "farm", "down", "--name", NAME], cwd=folder, check=True, capture_output=True)
        time.sleep(2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", choices=sorted(SETS), default="jit", help="which variants; ratios are to the first")
    args = parser.parse_args()
    rounds, variants = args.rounds, SETS[args.set]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as folder:
        for n in range(1, rounds + 1):
            for name, options in variants.items():
                runs[name].append(one_run(options, folder))
                print(f"round {n}, {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[name][-1].items()), flush=True)
    first = next(iter(variants))
    keys = list(runs[first][0])
    medians = {name: {k: statistics.median(r[k] for r in results) for k in keys} for name, results in runs.items()}
    before = medians[first]
    print(f"\n{'median':<14}" + "".join(f"{k:>20}" for k in keys))
    for name, figures in medians.items():
        print(f"{name:<14}" + "".join(f"{figures[k]:>10.2f} ({figures[k] / before[k]:.2f})" for k in keys))


if __name__ == "__main__":
    main()
