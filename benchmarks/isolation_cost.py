"""What isolating a cell costs, per browser: a fresh session per cell against a fresh user context
in a kept session (`farm test --isolation context`), on the farm's own grid.

For each browser, N cells of each kind, interleaved; a "cell" loads the same page and runs one
script. Prints the mean cell time of each kind, the isolation overhead (cell time minus the same
work in an already-open tab) and the ratio, after the one-off probe that proves isolation.
`--compare` measures Chrome's contexts made over BiDi (a session with `webSocketUrl`, as farm made
them before) beside the CDP ones farm makes, interleaved in the same run; its two kept sessions
take both Chrome slots of the default farm, so it skips the fresh sessions there.

    .venv/bin/farm up && .venv/bin/python benchmarks/isolation_cost.py [--cells 8] [--compare]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from selenium import webdriver

from farm.core.config import load_config
from farm.infra.browsers import open_session, reachable_sockets
from farm.infra.farms import FarmLink
from farm.plugin.worker.isolation import BidiContexts, KeptBrowser, leaks, probe_site, uses_cdp


def work(driver: webdriver.Remote, url: str) -> None:
    driver.get(url)
    driver.execute_script("localStorage.setItem('k', '1'); return document.title")


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def kept_browser(grid: str, browser: str, over_bidi: bool = False) -> KeptBrowser:
    """A kept session as farm makes it, or (`over_bidi`) one whose contexts are made over BiDi."""
    driver = open_session(grid, browser, bidi=over_bidi or not uses_cdp(browser))
    if not over_bidi:
        return KeptBrowser(driver, grid)
    bidi = BidiContexts(reachable_sockets(driver.caps, grid)["webSocketUrl"])
    return KeptBrowser(driver, grid, bidi)


def measure(
    grid: str, kinds: dict[str, KeptBrowser], browser: str, url: str, cells: int, sessions: bool = True
) -> dict[str, dict[str, float]]:
    """Mean seconds per cell: the work alone, with a fresh session (unless not `sessions`), with a
    fresh context in each kind of kept session; printed, and returned with the overheads."""
    probes = {name: timed(lambda kept=kept: leaks(kept, url)) for name, kept in kinds.items()}
    bare = {name: statistics.mean(timed(lambda kept=kept: work(kept.driver, url)) for _ in range(cells)) for name, kept in kinds.items()}

    opens: list[float] = []

    def fresh_session_cell() -> None:
        started = time.monotonic()
        driver = open_session(grid, browser)
        opens.append(time.monotonic() - started)
        work(driver, url)
        driver.quit()

    def context_cell(kept: KeptBrowser) -> None:
        work(kept.begin_cell(), url)
        kept.end_cell()
        kept.settle()  # the removal counts in full (a run overlaps it with pytest's reporting)

    fresh: list[float] = []
    contexts: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(cells):
        if sessions:
            fresh.append(timed(fresh_session_cell))
        for name, kept in kinds.items():
            contexts[name].append(timed(lambda kept=kept: context_cell(kept)))
    session = statistics.mean(fresh) if fresh else float("nan")
    measured = {}
    for name, kept in kinds.items():
        kept.close()
        context = statistics.mean(contexts[name])
        versus = f"fresh session {session:5.2f} s (overhead {session - bare[name]:5.2f} s) | " if fresh else ""
        ratio = f" | x{context / session:.2f} per cell" if fresh else ""
        print(
            f"  {name:14} work alone {bare[name]:5.2f} s | {versus}context {context:5.2f} s"
            f" (overhead {context - bare[name]:5.2f} s){ratio}; probe once {probes[name]:4.2f} s"
        )
        measured[name] = {"bare": bare[name], "session": session, "context": context, "open": min(opens, default=float("nan"))}
        measured[name] |= {"session_overhead": session - bare[name], "context_overhead": context - bare[name], "probe": probes[name]}
    return measured


def farm_overhead(grid: str, browser: str, url: str, cells: int) -> dict[str, float]:
    """`measure` for the kept session farm makes (benchmarks/capacity_models.py prints it)."""
    return measure(grid, {browser: kept_browser(grid, browser)}, browser, url, cells)[browser]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--compare", action="store_true", help="also Chrome's contexts over BiDi, side by side")
    args = parser.parse_args()
    config = load_config()
    with FarmLink(config) as farm, probe_site(farm.gateway()) as url:
        assert url is not None
        print(f"isolation per cell: {args.cells} cells of each kind per browser, interleaved")
        for browser in ("chrome", "firefox"):
            kinds = {browser: kept_browser(config.grid_url, browser)}
            compare = args.compare and uses_cdp(browser)
            if compare:
                kinds[f"{browser} (BiDi)"] = kept_browser(config.grid_url, browser, over_bidi=True)
            measure(config.grid_url, kinds, browser, url, args.cells, sessions=not compare)


if __name__ == "__main__":
    main()
