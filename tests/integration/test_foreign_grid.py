"""A Grid the farm did not start: a hub and a node started by hand from the same Selenium jar, with
Grid's own defaults (node health check every 120 s, unsupported capabilities not rejected, no
registration secret), reached only through `--grid-url`."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest
import requests

from farm.cli.main import main
from farm.core import labels
from farm.core.catalogue import BROWSERS as CATALOGUE
from farm.core.catalogue import GRID_VERSION, HUB_LOCAL_IMAGE
from farm.infra.appserver import serve
from tests.conftest import free_port, leftovers, serving, wait_until

pytestmark = pytest.mark.integration
NAME = "farm-it-byhand"
DEMO = Path(__file__).resolve().parents[2] / "suites" / "demo"
JAR = "/opt/selenium/selenium-server.jar"
STEREOTYPE = {"browserName": "chrome", "platformName": "linux", "goog:chromeOptions": {"binary": "/opt/bin/chromium"}}


@pytest.fixture(scope="module")
def hand_made_grid():
    """`java -jar selenium-server.jar hub` and `... node --hub ...` as the Selenium docs show them,
    in containers labelled so that a failed test leaves nothing behind."""
    client = docker.from_env()
    tags = labels.create_labels(NAME, "test")
    port = free_port()
    network = client.networks.create(f"{NAME}-net", labels=tags)
    try:
        client.containers.run(
            HUB_LOCAL_IMAGE,
            ["-jar", JAR, "hub"],
            entrypoint="java",
            name=f"{NAME}-hub",
            network=network.name,
            ports={"4444/tcp": ("127.0.0.1", port)},
            labels=tags,
            detach=True,
        )
        node_options = [
            "--hub", f"http://{NAME}-hub:4444", "--detect-drivers", "false", "--selenium-manager", "false",
            "--driver-configuration", "display-name=chrome", "max-sessions=2",
            f"stereotype={json.dumps(STEREOTYPE)}", "webdriver-executable=/usr/bin/chromedriver",
        ]  # fmt: skip
        client.containers.run(
            CATALOGUE["chrome"].local_image,
            ["-jar", JAR, "node", *node_options],
            entrypoint="java",
            name=f"{NAME}-node",
            network=network.name,
            shm_size="2g",
            labels=tags,
            detach=True,
        )
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return bool(requests.get(f"{url}/status", timeout=2).json()["value"]["ready"])
            except (requests.RequestException, ValueError, KeyError):
                return False

        wait_until(ready, "the hand-made grid is ready", timeout=90)
        network.reload()
        yield url, network.attrs["IPAM"]["Config"][0]["Gateway"]
    finally:
        for container in client.containers.list(all=True, filters={"label": labels.selector(NAME)}):
            container.remove(force=True)
        network.remove()
        client.close()
    assert leftovers(NAME) == []


def test_status_of_a_grid_the_farm_did_not_start(hand_made_grid, capsys):
    url, _gateway = hand_made_grid
    assert main(["status", "--grid-url", url, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["ready"] is True and status["version"] == GRID_VERSION
    assert status["browsers"]["chrome"]["slots"] == 2
    assert "nodes" not in status  # not the farm's: no containers of its own to describe


def test_demo_suite_on_a_grid_the_farm_did_not_start(hand_made_grid, tmp_path):
    url, gateway = hand_made_grid
    results = tmp_path / "run"
    with serve(DEMO / "app", gateway) as port, pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.setenv("FARM_REPORTS_DIR", str(tmp_path / "reports"))
        farm_args = ["--browsers", "chrome", "--grid-url", url, "--base-url", f"http://{gateway}:{port}/", "--results-dir", str(results)]
        # pytest-selenium (installed with farm's dev extras) treats any other base URL as production
        code = main(["test", str(DEMO), *farm_args, "--no-report", "--", "--sensitive-url", "^$"])
    summary = json.loads((results / "summary.json").read_text())
    assert code == 0, summary["counts"]
    assert summary["counts"] == {"passed": 15, "failed": 0, "broken": 0, "skipped": 0}
    assert all(c["sessions"] and c["sessions"][0]["browser"] == "chrome" for c in summary["cells"])


def test_a_browser_the_grid_lacks_is_refused_before_anything_runs(hand_made_grid, tmp_path, capsys):
    url, _gateway = hand_made_grid
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        code = main(["test", str(DEMO), *serving(DEMO), "--browsers", "firefox", "--grid-url", url, "--results-dir", str(tmp_path / "run")])
    assert code == 3
    assert f"the grid at {url} has no slots for firefox" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # the hub, on its defaults, would have queued it for 300 s
