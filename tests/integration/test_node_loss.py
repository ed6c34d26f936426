"""Guarantee 1: a node killed mid-run (`docker kill`) on a real grid.

The farm has two chrome nodes and one firefox node, one slot each. Once every slot holds a busy
session, one chrome node and the only firefox node are killed. The chrome cell that lost its node
runs again on the other chrome node and passes. The firefox cell that lost its node has nowhere to
go, so it is broken (infrastructure), and the firefox cells still pending are reported as not run,
each with the reason. Every other cell completes, and the report is generated. `farm status`
names the lost nodes, and `farm up` restores the farm to its size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from farm.infra.grid import GridClient
from tests.conftest import free_port, leftovers, wait_until, write_config

pytestmark = pytest.mark.integration
NAME = "farm-it-nodeloss"
SUITE = str(Path(__file__).parent / "suites" / "nodeloss")
SIZE = ("--browsers", "chrome,firefox", "--nodes", "chrome=2,firefox=1", "--max-sessions", "1")


@pytest.fixture
def farm_dir(tmp_path, cli_in):
    port = free_port()
    write_config(tmp_path, NAME, port)
    cli = cli_in(tmp_path)
    code, out, err = cli("up", *SIZE)
    assert code == 0, out + err
    yield tmp_path, port
    cli("down")
    assert leftovers(NAME) == []


def wait_until_every_slot_runs_a_cell(client: GridClient, busy: Path, timeout: float = 90) -> None:
    """Every slot busy, and as many cells inside their busy loop (the files they leave): a slot the
    Grid reserved for a session still starting would move to another node when its node dies, and
    a kept session may still be proving isolation before its first cell."""

    def every_slot_runs_a_cell() -> bool:
        capacity = client.status().capacity()
        slots = sum(c.slots for c in capacity.values())
        return bool(capacity) and all(c.busy == c.slots for c in capacity.values()) and len(list(busy.iterdir())) >= slots

    wait_until(every_slot_runs_a_cell, "every slot runs a cell", timeout=timeout)


@pytest.mark.parametrize("isolation", ["context", "session"])
def test_killed_nodes_cells_rerun_on_remaining_slots_or_are_reported_not_run(farm_dir, cli_in, isolation):
    """With kept sessions (the default), the worker whose session died asks for a new one while
    the other keeps the only chrome slot left between cells: it must give it back."""
    directory, port = farm_dir
    client = GridClient(f"http://127.0.0.1:{port}")
    results = directory / "run-nodeloss"
    command = [sys.executable, "-m", "farm", "test", SUITE, "--timeout", "180", "--results-dir", str(results), "--isolation", isolation]
    busy = directory / "busy"
    busy.mkdir()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NODELOSS_BUSY_DIR": str(busy)}
    proc = subprocess.Popen(command, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        wait_until_every_slot_runs_a_cell(client, busy)
        time.sleep(1)  # the tests are inside their busy loop
        engine = docker.from_env()
        try:
            survivor = engine.containers.get(f"{NAME}-node-chrome-1")
            survivor_uri = f"http://{survivor.attrs['NetworkSettings']['Networks'][f'{NAME}-grid']['IPAddress']}:5555"
            for victim in (f"{NAME}-node-chrome-2", f"{NAME}-node-firefox-1"):
                engine.containers.get(victim).kill()
        finally:
            engine.close()
        output, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
    summary = json.loads((results / "summary.json").read_text())
    cells = {c["nodeid"].split("::")[-1]: c for c in summary["cells"]}
    not_run = {c["nodeid"].split("::")[-1]: c["reason"] for c in summary["not_run_cells"]}

    assert {c["isolation"] for c in cells.values()} == {isolation}
    # every cell accounted for, and the run says the matrix was not run whole
    assert len(cells) + len(not_run) == summary["total"] == 10, output
    assert proc.returncode == 3, output
    # chrome: everything completed; the cell on the killed node ran again on the other node
    chrome = {n: c for n, c in cells.items() if c["browser"] == "chrome"}
    assert len(chrome) == 5 and all(c["status"] == "passed" for c in chrome.values()), chrome
    retried = [c for c in chrome.values() if c["attempts"] == 2]
    assert len(retried) == 1, chrome
    assert retried[0]["retries"][0].startswith("infrastructure: ") and "existing session" in retried[0]["retries"][0]
    assert retried[0]["node"] == survivor_uri
    # firefox: the running cell is broken (infrastructure, no slot for its re-run); the rest not run
    firefox = {n: c for n, c in cells.items() if c["browser"] == "firefox"}
    assert [c["status"] for c in firefox.values()] == ["broken"], firefox
    (lost_cell,) = firefox.values()
    assert lost_cell["failure_kind"] == "infrastructure" and "no firefox slot left" in lost_cell["message"]
    assert lost_cell["retries"] and lost_cell["retries"][0].startswith("infrastructure: ")
    assert len(not_run) == 4 and all("no firefox slot left" in why for why in not_run.values()), not_run
    assert summary["infrastructure_retries"] == 2
    assert "did not run" in output and "re-run after an infrastructure failure" in output
    # the report is generated and shows the cells that did not run
    assert (results / "report" / "index.html").exists(), output
    unknown = [r for p in (results / "allure-results").glob("*-result.json") if (r := json.loads(p.read_text()))["status"] == "unknown"]
    assert sorted(r["name"] for r in unknown) == sorted(not_run)
    # no session of the run is left on a node that is up
    assert sum(c.busy for c in client.status().capacity().values()) == 0

    cli = cli_in(directory)
    code, out, _ = cli("status", "--json")
    status = json.loads(out)
    assert code == 0 and sorted(status["lost"]) == [f"{NAME}-node-chrome-2", f"{NAME}-node-firefox-1"]
    assert {n["name"]: n["container"] for n in status["nodes"]}[f"{NAME}-node-chrome-2"] == "exited (137)"
    code, out, _ = cli("status")
    assert code == 0 and "lost nodes:" in out and f"{NAME}-node-firefox-1" in out

    code, out, _ = cli("up", *SIZE)
    assert code == 0 and "started 2, removed 2" in out, out
    assert client.status().slots() == {"chrome": 2, "firefox": 1}
    code, out, _ = cli("status", "--json")
    assert json.loads(out)["lost"] == []
