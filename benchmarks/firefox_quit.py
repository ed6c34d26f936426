"""What quitting a Firefox session costs on the farm's nodes, with farm's options as they are and
without the fast-shutdown preference (Firefox's own shutdown), side by side.

Every fresh-session cell on Firefox ends with a quit, and a worker waits for it before its next
cell. N sessions of each kind, interleaved; each loads a page, then is quit and timed.

    .venv/bin/farm up && .venv/bin/python benchmarks/firefox_quit.py [--sessions 6]
"""

from __future__ import annotations

import argparse
import statistics
import time

from selenium import webdriver

from farm.core.config import load_config
from farm.infra.browsers import browser_options, remote_driver

FAST_SHUTDOWN = "toolkit.shutdown.fastShutdownStage"


def quit_seconds(grid: str, fast: bool) -> float:
    options = browser_options("firefox")
    if not fast:
        del options.preferences[FAST_SHUTDOWN]  # type: ignore[attr-defined]
    driver: webdriver.Remote = remote_driver(grid, options, 120)
    driver.get("about:blank")
    started = time.monotonic()
    driver.quit()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--grid-url", default=None)
    args = parser.parse_args()
    grid = args.grid_url or load_config().grid_url
    with_pref, without = [], []
    for _ in range(args.sessions):
        without.append(quit_seconds(grid, fast=False))
        with_pref.append(quit_seconds(grid, fast=True))
    fast, slow = statistics.median(with_pref), statistics.median(without)
    print(f"firefox quit, median of {args.sessions}: {slow:.2f} s without {FAST_SHUTDOWN}, {fast:.2f} s with it")
    print(f"ratio with/without: {fast / slow:.2f}")


if __name__ == "__main__":
    main()
