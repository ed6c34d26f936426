"""Soak: three `farm test` runs back to back at full slot use, a node killed in the middle of the second.

A farm of its own (name farm-soak, its own port: 2 nodes per browser, --slots each, default 2) runs
benchmarks/soak_suite (FARM_SOAK_TESTS short tests, default 250) x chrome, firefox: 500 cells per
run. Halfway through run 2 (by finished cells) a node holding a session is killed with
`docker kill`; `farm up` restores the farm before run 3. Per run it prints: cells completed vs
expected, infrastructure retries, cells not run, makespan vs lower bound, the peak memory of the
`farm test` process (its VmHWM) and of its whole process tree (pytest controller and workers), and
the sessions left busy on the grid. At the end: farm-labelled containers and networks left after
`farm down` (must be 0).

    FARM_SOAK_TESTS=500 .venv/bin/python benchmarks/soak.py --browsers chrome   # ~20 min on 2 cores
    .venv/bin/python benchmarks/soak.py --slots 1   # 250 x chrome, firefox on 4 browsers; 2 slots = 8 is too many for 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from farm.core import labels
from farm.infra.grid import GridClient

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "benchmarks" / "soak_suite"
NAME = "farm-soak"


def farm(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "farm", *args], cwd=work, capture_output=True, text=True, check=False)


def tree_of(pid: int) -> list[int]:
    """pid and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def kill_a_busy_node(port: int) -> str:
    """Kill a node that serves a session right now (firefox first: its cells run longest)."""
    busy = {n.uri: name for n in GridClient(f"http://127.0.0.1:{port}").status().nodes for name, c in n.browsers.items() if c.busy}
    client = docker.from_env()
    try:
        nodes = client.containers.list(filters={"label": [f"{labels.NAME}={NAME}", f"{labels.ROLE}=node"]})
        for container in sorted(nodes, key=lambda c: c.labels.get(labels.BROWSER) != "firefox"):
            ip = container.attrs["NetworkSettings"]["Networks"][f"{NAME}-grid"]["IPAddress"]
            if f"http://{ip}:5555" in busy:
                container.kill()
                return container.name
    finally:
        client.close()
    raise RuntimeError("no node holds a session to kill")


def one_run(work: Path, index: int, port: int, browsers: str, kill_at: int | None) -> dict:
    results = work / f"run-{index}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "farm", "test", str(SUITE), "--browsers", browsers, "--results-dir", str(results), "--no-report"]
    started = time.monotonic()
    with (work / f"run-{index}.log").open("w") as log:
        proc = subprocess.Popen(command, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env)
        farm_peak = tree_peak = 0
        killed = ""
        while proc.poll() is None:
            farm_peak = max(farm_peak, status_kib(proc.pid, "VmHWM"))
            tree_peak = max(tree_peak, sum(status_kib(p, "VmRSS") for p in tree_of(proc.pid)))
            cells = results / "cells.jsonl"
            done = cells.read_text().count("\n") if cells.exists() else 0
            if kill_at is not None and not killed and done >= kill_at:
                killed = kill_a_busy_node(port)
                print(f"  run {index}: killed {killed} after {done} cells", flush=True)
            time.sleep(0.5)
    wall = time.monotonic() - started
    summary = json.loads((results / "summary.json").read_text())
    busy = sum(c.busy for c in GridClient(f"http://127.0.0.1:{port}").status().capacity().values())
    return {
        "run": index,
        "exit": proc.returncode,
        "wall": wall,
        "summary": summary,
        "farm_peak": farm_peak,
        "tree_peak": tree_peak,
        "busy": busy,
    }


def leftovers() -> int:
    client = docker.from_env()
    try:
        selector = {"label": labels.selector(NAME)}
        return len(client.containers.list(all=True, filters=selector)) + len(client.networks.list(filters=selector))
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4499)
    parser.add_argument("--browsers", default="chrome,firefox", help="browsers of the matrix (2 nodes each)")
    parser.add_argument("--slots", type=int, default=2, help="session slots per node")
    args = parser.parse_args()
    browsers = args.browsers.split(",")
    size = ["--browsers", args.browsers, "--nodes", ",".join(f"{b}=2" for b in browsers), "--max-sessions", str(args.slots)]
    work = Path(tempfile.mkdtemp(prefix="farm-soak-"))
    config = f'name = "{NAME}"\nhub_port = {args.port}\nimage_set = "local"\noffline = true\nreports_dir = "{work / "reports"}"\n'
    (work / "farm.toml").write_text(config)
    up = farm(work, "up", *size)
    if up.returncode != 0:
        print(up.stdout + up.stderr)
        return 1
    tests = int(os.environ.get("FARM_SOAK_TESTS", "250"))
    print(
        f"soak: {tests} tests x {args.browsers} = {len(browsers) * tests} cells per run; "
        f"slots {GridClient(f'http://127.0.0.1:{args.port}').status().slots()}"
    )
    runs = []
    try:
        for index in (1, 2, 3):
            if index == 3:
                restored = farm(work, "up", *size)
                said = restored.stdout.splitlines()[0] if restored.stdout else restored.stderr
                print(f"  before run 3: farm up -> exit {restored.returncode}: {said}")
            runs.append(one_run(work, index, args.port, args.browsers, kill_at=len(browsers) * tests // 2 if index == 2 else None))
            r = runs[-1]
            s = r["summary"]
            print(f"  run {index}: exit {r['exit']}, {len(s['cells'])}/{s['total']} cells in {r['wall']:.0f}s", flush=True)
    finally:
        farm(work, "down")
    print()
    columns = ["run", "cells completed / expected", "infrastructure retries", "not run", "makespan", "lower bound", "ratio"]
    columns += ["farm peak RSS", "tree peak RSS", "busy sessions after"]
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    for r in runs:
        s, m = r["summary"], r["summary"]["makespan"]
        ratio = m["actual"] / m["lower_bound"] if m["lower_bound"] else float("nan")
        print(
            f"| {r['run']} | {len(s['cells'])} / {s['total']} | {s['infrastructure_retries']} | {len(s['not_run'])} | {m['actual']:.1f}s "
            f"| {m['lower_bound']:.1f}s | {ratio:.2f} | {r['farm_peak'] / 1024:.0f} MiB | {r['tree_peak'] / 1024:.0f} MiB | {r['busy']} |"
        )
    left = leftovers()
    print(f"\nleftover farm containers and networks after `farm down`: {left}")
    complete = all(len(r["summary"]["cells"]) == r["summary"]["total"] for r in runs)
    print(f"every run completed every cell: {'yes' if complete else 'NO'}")
    return 0 if complete and left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
