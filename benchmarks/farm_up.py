"""`farm up` to every slot registered, with the images present, and where the time goes.

Starts and removes a farm of its own (`farm-bench-up`, port 4498: hub, a chrome and a firefox
node) N times. Prints each run's wall time and the median, then, from the last run's container
logs, when each step happened relative to the command's start: the hub container created, each
container started, each server's event bus ready, each server started, each node added.

    .venv/bin/python benchmarks/farm_up.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import subprocess
import sys
import tempfile
import time

import docker

from farm.core import labels

NAME, PORT = "farm-bench-up", "4498"
FARM = [sys.executable, "-m", "farm"]
MARKS = {"event bus ready": "Event bus ready", "started": "Started Selenium", "node added": "Node has been added"}


def at(stamp: str) -> float:
    """Seconds since the epoch of a Docker timestamp (nanoseconds cut to microseconds)."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    return dt.datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp()


def steps(started: float) -> list[tuple[float, str]]:
    client = docker.from_env()
    rows: list[tuple[float, str]] = []
    try:
        for container in client.containers.list(filters={"label": f"{labels.NAME}={NAME}"}):
            name = container.name.removeprefix(f"{NAME}-")
            rows.append((at(container.attrs["Created"]) - started, f"{name}: container created"))
            rows.append((at(container.attrs["State"]["StartedAt"]) - started, f"{name}: container started"))
            for line in container.logs(timestamps=True).decode(errors="replace").splitlines():
                stamp, _, text = line.partition(" ")
                for label, pattern in MARKS.items():
                    if re.search(pattern, text):
                        rows.append((at(stamp) - started, f"{name}: {label}"))
    finally:
        client.close()
    return sorted(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        up = [*FARM, "up", "--name", NAME, "--port", PORT, "--browsers", "chrome,firefox"]
        for n in range(args.rounds):
            started = time.time()
            subprocess.run(up, cwd=folder, check=True, capture_output=True)
            times.append(time.time() - started)
            print(f"run {n + 1}: farm up to every slot registered in {times[-1]:.2f} s", flush=True)
            rows = steps(started)
            subprocess.run([*FARM, "down", "--name", NAME], cwd=folder, check=True, capture_output=True)
            time.sleep(2)
    print(f"farm up: median {statistics.median(times):.2f} s over {args.rounds} run(s) (target < 3 s)")
    print("the last run, seconds after the command started:")
    for offset, what in rows:
        print(f"  {offset:6.2f}  {what}")
    print(f"  {times[-1]:6.2f}  farm up returned: every slot registered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
