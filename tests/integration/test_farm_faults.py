"""Bad input and faults around `farm up`: one-line error, non-zero exit, nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import docker
import pytest

from farm.core.catalogue import GRID_VERSION
from tests.conftest import default_signals, free_port, leftovers, wait_until, write_config

pytestmark = pytest.mark.integration


@pytest.fixture
def farm(tmp_path, cli_in, request):
    """A farm folder with its own name and port; asserts nothing of it is left afterwards."""
    name = "farm-it-" + request.node.name.split("[")[0].removeprefix("test_").replace("_", "-")[:30]
    write_config(tmp_path, name, free_port())
    yield name, cli_in(tmp_path), tmp_path
    assert leftovers(name) == [], f"{name} left containers or networks behind"


def one_line_error(err: str) -> str:
    """The error is one line, the last; anything before it is progress ("farm up: ...")."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("farm: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert all(line.startswith("farm ") for line in lines[:-1]), err
    return errors[0]


def test_unknown_browser(farm):
    _, cli, _ = farm
    code, _, err = cli("up", "--browsers", "chrome,safari")
    assert code == 2 and "unknown browser 'safari': choose from chrome, firefox, edge" in one_line_error(err)


def test_malformed_nodes(farm):
    _, cli, _ = farm
    code, _, err = cli("up", "--nodes", "chrome:2")
    assert code == 2 and "malformed --nodes entry 'chrome:2'" in one_line_error(err)


def test_malformed_config_file_names_the_key(farm):
    _, cli, directory = farm
    (directory / "farm.toml").write_text((directory / "farm.toml").read_text() + "max_sesions = 3\n")
    code, _, err = cli("up")
    assert code == 2 and "farm.toml: unknown key 'max_sesions'" in one_line_error(err)


def test_engine_unreachable_says_how_to_start_one(farm):
    _, cli, directory = farm
    code, _, err = cli("up", "--docker-host", f"unix://{directory}/no-docker.sock")
    line = one_line_error(err)
    assert code == 3 and "Docker engine unreachable" in line and "apt-get install docker.io" in line and "DOCKER_HOST" in line
    assert "scripts/" not in err  # a pip user has no scripts of farm's repository


def test_port_already_taken(farm):
    _name, cli, _directory = farm
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        code, _, err = cli("up", "--port", str(taken))
    assert code == 3 and f"port {taken} on 127.0.0.1 is already in use" in one_line_error(err)


def test_missing_image(farm):
    _, cli, _ = farm
    code, _, err = cli("up", "--browsers", "chrome", "--image", "chrome=farm-local/does-not-exist:1")
    assert code == 3 and "farm-local/does-not-exist:1" in one_line_error(err)


def test_edge_without_image_fails_at_once_and_names_the_official_image(farm):
    _, cli, _ = farm
    started = time.monotonic()
    code, _, err = cli("up", "--browsers", "chrome,edge")
    assert code == 3 and time.monotonic() - started < 10
    line = one_line_error(err)
    assert f"selenium/node-edge:{GRID_VERSION}" in line and "--image edge=" in line


def test_node_that_never_registers_is_named_with_its_log(farm):
    name, cli, _ = farm
    # The hub image started as a chrome node runs a second hub: it never registers.
    code, _, err = cli("up", "--browsers", "chrome", "--image", f"chrome=farm-local/hub:{GRID_VERSION}", "--timeout", "15")
    line = one_line_error(err)
    assert code == 3 and f"node {name}-node-chrome-1 never registered" in line and "last log line" in line


def test_ctrl_c_during_up_rolls_back(farm):
    name, _, directory = farm
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # enough nodes that `up` is still starting or waiting for them when the first one exists
    command = [sys.executable, "-m", "farm", "up", "--browsers", "chrome,firefox", "--nodes", "chrome=3,firefox=2"]
    proc = subprocess.Popen(command, cwd=directory, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    wait_until(lambda: any("-node-" in n for n in leftovers(name)), "farm up has started a node", interval=0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err


def test_a_node_that_cannot_be_created_rolls_back_the_nodes_started_before_it(farm):
    """When a node cannot be created (its name is another container's), every container this `up`
    started, the hub and the nodes before it, is removed, and the other container stays."""
    name, cli, _ = farm
    client = docker.from_env()
    squatter = client.containers.create(f"farm-local/hub:{GRID_VERSION}", name=f"{name}-node-firefox-2", entrypoint="true")
    try:
        code, _, err = cli("up", "--browsers", "chrome,firefox", "--nodes", "chrome=2,firefox=2")
        line = one_line_error(err)
        assert code == 3 and f"creating container {name}-node-firefox-2" in line
        squatter.reload()  # still there, untouched
    finally:
        squatter.remove(force=True)
        client.close()
