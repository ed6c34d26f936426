"""What farm adds to a suite's own session, command by command: plain pytest against `farm test`.

One suite, its own `webdriver.Remote` driver (not farm's), run on the same Grid twice per browser:
under plain pytest (farm's plugin inert) and under `farm test --workers 1` (one cell at a time, as
plain pytest runs). Each cell times its session's open, its first command (`get` of a page that
logs to the console), its second, the mean of 20 later commands, and its quit. Printed: the medians
per browser and mode side by side, and what farm adds (farm minus plain) and its ratio.

What farm does to such a session: it cleans and hardens the request (background networking off,
the localhost route), checks the session's browser against the cell's, asks the Grid for its node,
attaches the console listener (CDP on Chromium; BiDi on Firefox, which also needs `webSocketUrl`
and the prompt handler), and on quit flushes the console.

    .venv/bin/farm up && .venv/bin/python benchmarks/command_latency.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from farm.core.config import load_config

PHASES = ("open", "first", "second", "later", "quit")
SUITE = """
import json
import os
import time

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

PAGE = "data:text/html,<title>t</title><p id=p>p</p><script>console.error('logged')</script>"


def browser():
    return os.environ.get("FARM_BROWSER") or os.environ["LATENCY_BROWSER"]


@pytest.mark.parametrize("round_", range(int(os.environ["LATENCY_ROUNDS"])))
def test_session(round_):
    name = browser()
    options = webdriver.ChromeOptions() if name == "chrome" else webdriver.FirefoxOptions()
    options.add_argument("--headless=new" if name == "chrome" else "-headless")
    clock = time.perf_counter
    t0 = clock()
    driver = webdriver.Remote(os.environ["LATENCY_GRID"], options=options)
    t1 = clock()
    driver.get(PAGE)
    t2 = clock()
    driver.find_element(By.ID, "p")
    t3 = clock()
    for _ in range(20):
        driver.find_element(By.ID, "p")
    t4 = clock()
    driver.quit()
    t5 = clock()
    times = {"open": t1 - t0, "first": t2 - t1, "second": t3 - t2, "later": (t4 - t3) / 20, "quit": t5 - t4}
    with open(os.environ["LATENCY_OUT"], "a") as out:
        out.write(json.dumps({"browser": name, "mode": os.environ["LATENCY_MODE"], **times}) + "\\n")
"""


def run(command: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} ... exited {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")


def measure(rounds: int) -> list[dict]:
    grid = load_config().grid_url
    with tempfile.TemporaryDirectory() as tmp:
        suite, out = Path(tmp) / "suite", Path(tmp) / "times.jsonl"
        suite.mkdir()
        (suite / "test_latency.py").write_text(SUITE)
        env = {**os.environ, "LATENCY_GRID": grid, "LATENCY_OUT": str(out), "LATENCY_ROUNDS": str(rounds)}
        env.pop("FARM_BROWSER", None)
        for browser in ("chrome", "firefox"):
            print(f"plain pytest, {browser}: {rounds} sessions", flush=True)
            run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
                {**env, "LATENCY_MODE": "plain", "LATENCY_BROWSER": browser},
            )
        print(f"farm test --workers 1, chrome and firefox: {rounds} sessions each", flush=True)
        farm = [sys.executable, "-m", "farm", "test", str(suite), "--browsers", "chrome,firefox", "--workers", "1", "--no-report"]
        run([*farm, "--results-dir", str(Path(tmp) / "results")], {**env, "LATENCY_MODE": "farm"})
        return [json.loads(line) for line in out.read_text().splitlines()]


def report(rows: list[dict]) -> None:
    print(f"\nmedian milliseconds per phase ({len(rows)} sessions); 'later' is one command")
    print(f"{'browser':8} {'phase':7} {'plain':>8} {'farm':>8} {'added':>8} {'ratio':>6}")
    for browser in ("chrome", "firefox"):
        for phase in PHASES:
            plain = statistics.median(r[phase] for r in rows if r["browser"] == browser and r["mode"] == "plain") * 1000
            farm = statistics.median(r[phase] for r in rows if r["browser"] == browser and r["mode"] == "farm") * 1000
            print(f"{browser:8} {phase:7} {plain:8.1f} {farm:8.1f} {farm - plain:+8.1f} {farm / plain:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="sessions per browser and mode")
    report(measure(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
