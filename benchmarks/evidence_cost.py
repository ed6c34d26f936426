"""What failure evidence costs on this machine: the page console (BiDi) and `--video`.

1. Console: per browser, N sessions opened, navigated and quit through the farm's Grid,
   interleaving plain sessions, sessions with farm's console listener (CDP on Chrome, BiDi on
   Firefox) and, on Chrome, a BiDi listener instead. Prints the mean session time of each and the
   difference to plain (what every cell pays).
2. Video: the bundled demo suite (30 cells) with `farm test --video off`, `failed` and `all`, run
   back to back on the same grid. Prints each mode's makespan, mean cell duration, the CPU seconds
   the node containers used (cgroup counters read through the engine) and the video bytes kept,
   with ratios to `off`.

    .venv/bin/farm up && .venv/bin/python benchmarks/evidence_cost.py [--sessions 6] [--skip-video]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
from selenium import webdriver

from farm.core import labels
from farm.core.config import load_config
from farm.infra.browsers import browser_options, reachable_sockets
from farm.plugin.worker.console import BidiConsole, listen

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "suites" / "demo"


def one_session(grid: str, browser: str, how: str) -> float:
    """Open, navigate, quit: plain, with farm's console listener (CDP on Chromium, BiDi on Firefox),
    or with a BiDi listener whatever the browser (what Chrome would pay for BiDi)."""
    options = browser_options(browser)
    if how == "bidi" or (how == "farm" and browser == "firefox"):
        options.set_capability("webSocketUrl", True)
    started = time.monotonic()
    driver = webdriver.Remote(grid, options=options)
    caps = {**driver.caps, **reachable_sockets(driver.caps, grid)}
    listener = {"plain": None, "farm": listen(caps), "bidi": BidiConsole(caps["webSocketUrl"]) if how == "bidi" else None}[how]
    driver.get("data:text/html,<title>t</title><script>console.error('x')</script>")
    if listener is not None:
        listener.flush()
        assert [e.text for e in listener.entries] == ["x"], (browser, how, listener.entries)
    driver.quit()
    if listener is not None:
        listener.close()
    return time.monotonic() - started


def console_cost(grid: str, sessions: int) -> None:
    print(f"console: {sessions} sessions of each kind, interleaved (open, navigate, read the console, quit)")
    for browser in ("chrome", "firefox"):
        one_session(grid, browser, "plain")  # warm the node
        kinds = ("plain", "farm", "bidi") if browser == "chrome" else ("plain", "farm")
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(sessions):
            for kind in kinds:
                times[kind].append(one_session(grid, browser, kind))
        plain = statistics.mean(times["plain"])
        line = f"  {browser:8} plain {plain:5.2f} s"
        for kind in kinds[1:]:
            mean = statistics.mean(times[kind])
            label = "farm's console" if kind == "farm" else "BiDi instead"
            line += f" | {label} {mean:5.2f} s ({mean - plain:+.2f} s, x{mean / plain:.2f})"
        print(line)


def node_cpu_seconds(client: docker.DockerClient, name: str) -> float:
    total = 0.0
    for container in client.containers.list(filters={"label": labels.selector(name), "status": "running"}):
        stats = container.stats(stream=False)
        total += stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9
    return total


def video_cost(name: str) -> None:
    client = docker.from_env()
    rows = {}
    for mode in ("off", "failed", "all"):
        results = Path(tempfile.mkdtemp(prefix=f"farm-bench-video-{mode}-"))
        cpu_before = node_cpu_seconds(client, name)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "farm", "test", "--demo", "--video", mode, "--no-report", "--results-dir", str(results / "run")],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        wall = time.monotonic() - started
        cpu = node_cpu_seconds(client, name) - cpu_before
        summary = json.loads((results / "run" / "summary.json").read_text())
        cells = summary["cells"]
        kept = sum(Path(v).stat().st_size for c in cells for v in c["videos"])
        rows[mode] = (wall, summary["makespan"]["actual"], statistics.mean(c["duration"] for c in cells), cpu, kept, len(cells))
    off = rows["off"]
    print("video (demo suite, chrome + firefox):")
    print(f"  {'mode':7} {'wall':>7} {'makespan':>9} {'cell mean':>10} {'node CPU':>9} {'kept':>9}")
    for mode, (wall, makespan, cell, cpu, kept, n) in rows.items():
        print(
            f"  {mode:7} {wall:6.1f}s {makespan:8.1f}s {cell:9.2f}s {cpu:8.1f}s {kept / 1e6:7.1f}MB"
            f"   x{makespan / off[1]:.2f} makespan, {cell - off[2]:+.2f} s per cell, x{cpu / off[3]:.2f} node CPU ({n} cells)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--skip-video", action="store_true")
    args = parser.parse_args()
    config = load_config()
    console_cost(config.grid_url, args.sessions)
    if not args.skip_video:
        video_cost(config.name)


if __name__ == "__main__":
    main()
