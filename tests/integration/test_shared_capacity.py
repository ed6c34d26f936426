"""`farm up --capacity shared`: nodes serving chrome and firefox from one pool of sessions, and a
`farm test` whose schedule, dispatch and bound follow that pool (issue 12, shared capacity)."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest
import requests

from farm.cli.main import main
from farm.core import labels
from tests.conftest import free_port, write_config

pytestmark = pytest.mark.integration
NAME = "farm-it-shared"
SUITE = str(Path(__file__).parent / "suites" / "shared_pool")
APP = str(Path(__file__).resolve().parents[2] / "suites" / "demo" / "app")  # its delayed.html


@pytest.fixture(scope="module")
def shared_farm(tmp_path_factory: pytest.TempPathFactory):
    """One shared node of 2 sessions: chrome and firefox draw on the same two."""
    directory = tmp_path_factory.mktemp("farm")
    port = free_port()
    write_config(directory, NAME, port)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(directory)
        assert (
            main(["up", "--browsers", "chrome,firefox", "--capacity", "shared", "--nodes", "chrome=1,firefox=0", "--max-sessions", "2"])
            == 0
        )
    yield directory, port
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(directory)
        main(["down"])


def overlap(cells: list[dict], at: float) -> list[dict]:
    return [c for c in cells if c["start"] <= at < c["stop"]]


def test_one_node_offers_both_browsers_from_one_pool(shared_farm):
    _directory, port = shared_farm
    nodes = requests.get(f"http://127.0.0.1:{port}/status", timeout=5).json()["value"]["nodes"]
    assert len(nodes) == 1 and nodes[0]["maxSessions"] == 2
    assert sorted(slot["stereotype"]["browserName"] for slot in nodes[0]["slots"]) == ["chrome", "chrome", "firefox", "firefox"]
    client = docker.from_env()
    try:
        (container,) = client.containers.list(filters={"label": labels.selector(NAME, role="node")})
        assert container.labels[labels.BROWSER] == "shared"
        assert container.attrs["Config"]["User"] == "1200"  # browsers as seluser, as on every farm node
    finally:
        client.close()


def test_a_browser_whose_cells_ran_out_leaves_its_session_to_the_other(shared_farm):
    """One node, 2 sessions, both browsers: once chrome's last cell ended, firefox ran 2 cells at
    once on that node (a node of one browser could never pass a session to another), and the two
    browsers together never ran more than the pool's 2. Every cell ran on the browser its label names.
    With fresh sessions: with kept ones a session moves only when that pays for its new session
    and probe (docs/capacity.md), which these few short cells never do."""
    directory, _port = shared_farm
    results = directory / "reports" / "pool"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(directory)
        args = ["--results-dir", str(results), "--no-report", "--app-dir", APP, "--isolation", "session"]
        code = main(["test", SUITE, "--browsers", "chrome,firefox", *args])
    summary = json.loads((results / "summary.json").read_text())
    assert code == 0, (results / "pytest.log").read_text()[-3000:]
    cells = summary["cells"]
    assert len(cells) == 8 and {c["status"] for c in cells} == {"passed"}
    assert summary["capacity"]["model"] == "shared"
    assert summary["capacity"]["pools"] == [{"browsers": ["chrome", "firefox"], "sessions": 2}]
    for cell in cells:
        assert [s["browser"] for s in cell["sessions"]] == [cell["browser"]]
    assert len({s["node"] for c in cells for s in c["sessions"]}) == 1  # both browsers on the one node
    moments = sorted({c["start"] for c in cells})
    assert max(len(overlap(cells, t)) for t in moments) <= 2  # within the pool's sessions
    chrome_done = max(c["stop"] for c in cells if c["browser"] == "chrome")
    later = [t for t in moments if t >= chrome_done]
    assert any(sum(1 for c in overlap(cells, t) if c["browser"] == "firefox") == 2 for t in later), "chrome's session never went to firefox"
    work = sum(c["duration"] for c in cells)
    assert summary["makespan"]["lower_bound"] == pytest.approx(max(work / 2, max(c["duration"] for c in cells)), abs=0.01)


def test_shared_nodes_refuse_a_browser_they_do_not_serve(shared_farm):
    directory, _port = shared_farm
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(directory)
        assert main(["up", "--browsers", "chrome,edge", "--capacity", "shared"]) == 2


def test_calibrate_prints_the_curve_and_the_best_count(shared_farm, capsys):
    """`farm calibrate` on real sessions: one point per concurrency, the best count among them;
    asking for more sessions than the grid runs at once says how to get them."""
    directory, _port = shared_farm
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(directory)
        capsys.readouterr()
        assert main(["calibrate", "--browser", "firefox", "--up-to", "2", "--seconds", "5"]) == 0
        out = capsys.readouterr().out
        assert "cells per minute against sessions at once" in out
        best = int(out.split("best: ")[1].split(" ")[0])
        assert best in (1, 2)
        assert main(["calibrate", "--browser", "chrome", "--up-to", "3", "--seconds", "5"]) == 3
        err = capsys.readouterr().err
        assert "runs 2 chrome session(s) at once" in err and "--max-sessions 3" in err
