"""`farm up` to every slot registered, with the images present, and where the time goes.

Starts and removes a farm of its own (`farm-bench-up`, port 4498: hub, a chrome and a firefox
node) N times. Prints each run's wall time and where the machine's CPU went meanwhile (its busy
seconds, of the seconds its cores had, and the Grid servers' JVMs' share: on 2 cores `farm up` is
bound by that work), the medians, then, from the last run's container
logs, when each step happened relative to the command's start: the hub container created, each
container started, each server's event bus ready, each server started, each node added.

    .venv/bin/python benchmarks/farm_up.py [--rounds 3]

Side by side with an earlier farm: its checkout and its images (built there and tagged), turns
alternating, so both meet the same machine:

    git worktree add /tmp/before <commit>    # or git archive <commit> | tar -x -C /tmp/before
    (cd /tmp/before && /path/to/.venv/bin/python -m farm images build --browsers chrome,firefox)
    for r in hub node-chrome node-firefox; do docker tag farm-local/$r:4.48.0 farm-local/$r:before; done
    scripts/setup --tests                     # this checkout's images again
    .venv/bin/python benchmarks/farm_up.py --rounds 5 --before /tmp/before --before-tag before
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
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


def machine_cpu() -> tuple[float, float]:
    """(busy, all) CPU seconds the machine has counted since boot, over all its cores (/proc/stat)."""
    with open("/proc/stat") as stat:
        ticks = [int(x) for x in stat.readline().split()[1:9]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - ticks[3] - ticks[4]) / hz, sum(ticks) / hz


def jvm_cpu() -> float:
    """CPU seconds the farm's Grid servers (the JVMs in its containers) have used so far."""
    client = docker.from_env()
    used = 0.0
    try:
        for container in client.containers.list(filters={"label": f"{labels.NAME}={NAME}"}):
            for pid, args in container.top(ps_args="-o pid,args")["Processes"]:
                if args.startswith("java "):
                    with open(f"/proc/{pid}/stat") as stat:
                        fields = stat.read().rpartition(")")[2].split()
                    used += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    finally:
        client.close()
    return used


def variant(before: str | None, tag: str) -> tuple[list[str], dict[str, str]]:
    """The `farm up` command line and environment of this checkout, or of the earlier one."""
    up = [*FARM, "up", "--name", NAME, "--port", PORT, "--browsers", "chrome,firefox"]
    if before is None:
        return up, dict(os.environ)
    images = [
        f"--image={role}=farm-local/{image}:{tag}"
        for role, image in (("hub", "hub"), ("chrome", "node-chrome"), ("firefox", "node-firefox"))
    ]
    return [*up, *images], {**os.environ, "PYTHONPATH": before}


def one_up(command: list[str], env: dict[str, str], folder: str) -> tuple[float, list[tuple[float, str]], str]:
    """The wall time, the steps, and where the machine's CPU went meanwhile."""
    busy, total = machine_cpu()
    started = time.time()
    subprocess.run(command, cwd=folder, env=env, check=True, capture_output=True)
    took = time.time() - started
    busy_after, total_after = machine_cpu()
    cpu = f"CPU busy {busy_after - busy:.2f} of {total_after - total:.2f} s, the Grid's JVMs {jvm_cpu():.2f} s"
    rows = steps(started)
    subprocess.run([*FARM, "down", "--name", NAME], cwd=folder, check=True, capture_output=True)
    time.sleep(2)
    return took, rows, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default=None, help="an earlier checkout, run side by side (its farm package and images)")
    parser.add_argument("--before-tag", default="before", help="the tag of the earlier checkout's images")
    args = parser.parse_args()
    kinds = ["before", "now"] if args.before else ["now"]
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    last: dict[str, list[tuple[float, str]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for n in range(args.rounds):
            for kind in kinds if n % 2 == 0 else kinds[::-1]:
                command, env = variant(args.before if kind == "before" else None, args.before_tag)
                took, last[kind], cpu = one_up(command, env, folder)
                times[kind].append(took)
                print(f"run {n + 1} ({kind}): farm up to every slot registered in {took:.2f} s ({cpu})", flush=True)
    for kind in kinds:
        print(f"farm up ({kind}): median {statistics.median(times[kind]):.2f} s over {args.rounds} run(s) (target < 3 s)")
    if args.before:
        print(f"ratio now / before: {statistics.median(times['now']) / statistics.median(times['before']):.2f}")
    for kind in kinds:
        print(f"the last run ({kind}), seconds after the command started:")
        for offset, what in last[kind]:
            print(f"  {offset:6.2f}  {what}")
        print(f"  {times[kind][-1]:6.2f}  farm up returned: every slot registered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
