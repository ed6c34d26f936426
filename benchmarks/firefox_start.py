"""What starting a Firefox session costs on the farm's Firefox node, with the startup caches the
image seeds each new profile with and without them, side by side in one run.

Without: the session brings a profile of its own whose (empty) startupCache folder makes the node's
Firefox wrapper leave it alone, so Firefox compiles its own scripts as on a node without the seed.
Sessions of the two kinds alternate; each is timed from the request to the session, and the node
container's CPU time over the same span is read from the engine's stats.

    .venv/bin/farm up --browsers firefox && .venv/bin/python benchmarks/firefox_start.py [--sessions 6]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import docker
from docker.models.containers import Container
from selenium import webdriver
from selenium.webdriver.firefox.firefox_profile import FirefoxProfile

from farm.core import labels
from farm.core.config import load_config
from farm.infra.browsers import browser_options, remote_driver


def cpu_seconds(node: Container) -> float:
    """The node container's CPU seconds so far, as the engine counts them (any cgroup version)."""
    return node.stats(stream=False, one_shot=True)["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9


def unseeded_profile() -> FirefoxProfile:
    folder = Path(tempfile.mkdtemp(prefix="farm-bench-profile-"))
    (folder / "startupCache").mkdir()
    (folder / "startupCache" / "keep").write_text("an own profile: the node's wrapper leaves it alone\n")
    return FirefoxProfile(str(folder))


def start(grid: str, node: Container, seeded: bool) -> tuple[float, float]:
    options = browser_options("firefox")
    if not seeded:
        options.profile = unseeded_profile()  # type: ignore[attr-defined]
    cpu, started = cpu_seconds(node), time.monotonic()
    driver: webdriver.Remote = remote_driver(grid, options, 120)
    seconds, cpu = time.monotonic() - started, cpu_seconds(node) - cpu
    driver.get("about:blank")
    driver.quit()
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--grid-url", default=None)
    args = parser.parse_args()
    config = load_config()
    grid = args.grid_url or config.grid_url
    client = docker.from_env()
    nodes = client.containers.list(filters={"label": labels.selector(config.name, browser="firefox"), "status": "running"})
    if not nodes:
        raise SystemExit("firefox_start: no Firefox node of this farm runs; `farm up --browsers firefox` first")
    runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    start(grid, nodes[0], True)  # the container's first start reads Firefox from disk: not counted
    for _ in range(args.sessions):
        for seeded in (False, True):
            runs[seeded].append(start(grid, nodes[0], seeded))
    (seed_s, seed_cpu), (own_s, own_cpu) = ([statistics.median(x) for x in zip(*runs[k], strict=True)] for k in (True, False))
    print(f"firefox session start, median of {args.sessions} each (node: {nodes[0].name}, one session at a time):")
    print(f"  without the seeded caches: {own_s:.2f} s, {own_cpu:.2f} CPU-s on the node")
    print(f"  with them (farm's default): {seed_s:.2f} s, {seed_cpu:.2f} CPU-s on the node")
    print(f"ratio with/without: {seed_s / own_s:.2f} (time), {seed_cpu / own_cpu:.2f} (CPU)")


if __name__ == "__main__":
    main()
