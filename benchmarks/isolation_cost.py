"""What isolating a cell costs, per browser: a fresh session per cell against a fresh user context
in a kept session (`farm test --isolation context`), on the farm's own grid.

For each browser, N cells of each kind, interleaved; a "cell" loads the same page and runs one
script. Prints the mean cell time of each kind, the isolation overhead (cell time minus the same
work in an already-open tab) and the ratio, after the one-off probe that proves isolation.

    .venv/bin/farm up && .venv/bin/python benchmarks/isolation_cost.py [--cells 8]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from selenium import webdriver

from farm import controller as farm_api
from farm.browsers import open_session
from farm.config import load_config
from farm.isolation import KeptBrowser, leaks, probe_site


def work(driver: webdriver.Remote, url: str) -> None:
    driver.get(url)
    driver.execute_script("localStorage.setItem('k', '1'); return document.title")


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def measure(grid: str, browser: str, url: str, cells: int) -> dict[str, float]:
    """Mean seconds per cell: the work alone, with a fresh session, with a fresh user context;
    printed, and returned with the overheads (`session_overhead`, `context_overhead`)."""
    kept = KeptBrowser(open_session(grid, browser, bidi=True), grid)
    probe = timed(lambda: leaks(kept, url))
    bare = statistics.mean(timed(lambda: work(kept.driver, url)) for _ in range(cells))  # the work alone

    def fresh_session_cell() -> None:
        driver = open_session(grid, browser)
        work(driver, url)
        driver.quit()

    def context_cell() -> None:
        work(kept.begin_cell(), url)
        kept.end_cell()
        kept.settle()  # the removal counts in full (a run overlaps it with pytest's reporting)

    sessions, contexts = [], []
    for _ in range(cells):
        sessions.append(timed(fresh_session_cell))
        contexts.append(timed(context_cell))
    kept.close()
    session, context = statistics.mean(sessions), statistics.mean(contexts)
    print(
        f"  {browser:8} work alone {bare:5.2f} s | fresh session {session:5.2f} s (overhead {session - bare:5.2f} s)"
        f" | user context {context:5.2f} s (overhead {context - bare:5.2f} s) | x{context / session:.2f} per cell;"
        f" probe once {probe:4.2f} s"
    )
    return {"bare": bare, "session": session, "context": context, "session_overhead": session - bare, "context_overhead": context - bare}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8)
    args = parser.parse_args()
    config = load_config()
    with probe_site(farm_api.gateway(config)) as url:
        assert url is not None
        print(f"isolation per cell: {args.cells} cells of each kind per browser, interleaved")
        for browser in ("chrome", "firefox"):
            measure(config.grid_url, browser, url, args.cells)


if __name__ == "__main__":
    main()
