"""The test process's localhost reaches the browsers, and a pytest-selenium suite runs unchanged."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from farm.cli.main import main
from farm.core.config import load_config
from farm.infra.appserver import serve
from farm.infra.browsers import browser_options, remote_driver
from farm.run.loopback_proxy import loopback_proxy
from tests.conftest import BROWSERS, assert_statuses, is_png, module_farm_dir

pytestmark = pytest.mark.integration
NAME = "farm-it-localhost"
SUITE = Path(__file__).parent / "suites" / "pytest_selenium_live"


farm_dir = module_farm_dir(NAME)


@pytest.fixture(scope="module")
def live_run(farm_dir):
    ports = farm_dir / "app-ports.txt"
    results = farm_dir / "reports" / "live"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(farm_dir)
        mp.setenv("APP_PORTS_FILE", str(ports))  # the suite notes each worker's app port here
        code = main(["test", str(SUITE), "--browsers", ",".join(BROWSERS), "--results-dir", str(results), "--no-report"])
    return code, json.loads((results / "summary.json").read_text()), ports.read_text().split("\n")


def test_pytest_selenium_live_server_suite_runs_unchanged(live_run):
    """App on 127.0.0.1:0 per worker, Host must be localhost:PORT; fetch, redirect, cookie, WebSocket,
    a secure context, the suite's own option fixtures; one test fails on purpose."""
    code, summary, _ = live_run
    expected = {
        "test_fetch_reaches_the_app": "passed",
        "test_redirect_sets_a_cookie": "passed",
        "test_websocket_echoes": "passed",
        "test_localhost_is_a_secure_context": "passed",
        "test_options_fixtures_are_honoured": "passed",
        "test_title_fails_on_purpose": "failed",
    }
    assert code == 1
    assert_statuses(summary, expected)
    for cell in summary["cells"]:
        assert {s["browser"] for s in cell["sessions"]} == {cell["browser"]}, cell  # identity of every cell
        if cell["status"] == "failed":
            assert is_png(cell["screenshot"])


def test_each_worker_served_its_own_port(live_run):
    _, summary, lines = live_run
    ports = dict(line.split() for line in lines if line)
    workers = {c["worker"] for c in summary["cells"]}
    assert set(ports) == workers and len(set(ports.values())) == len(workers)


def test_the_same_suite_passes_under_plain_pytest_without_farm():
    """On the runner's own Chromium (pytest-selenium's --driver Chrome from the suite's ini)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FARM_", "PYTEST_", "APP_PORTS"))}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SUITE)], capture_output=True, text=True, env=env
    )
    assert "1 failed, 5 passed" in run.stdout, run.stdout[-2000:]


def farm_gateway() -> str:
    client = docker.from_env()
    try:
        network = client.networks.get(f"{NAME}-grid")
        return str(network.attrs["IPAM"]["Config"][0]["Gateway"])
    finally:
        client.close()


def test_the_proxy_reaches_localhost_only_and_refuses_other_targets_without_connecting(farm_dir):
    gateway = farm_gateway()  # a non-loopback address of this machine (the farm network's side)
    target = socket.create_server((gateway, 0))
    target.settimeout(0.5)
    target_port = target.getsockname()[1]
    with serve(SUITE.parent / "mixed" / "app", "127.0.0.1") as app_port, loopback_proxy(gateway) as port:
        proxies = {"http": f"http://{gateway}:{port}", "https": f"http://{gateway}:{port}"}
        session = requests.Session()
        session.trust_env = False
        # the runner's localhost, by name and by address
        for host in ("localhost", "127.0.0.1"):
            assert session.get(f"http://{host}:{app_port}/", proxies=proxies, timeout=5).status_code == 200
        # another address of this very machine, and a name: refused with the reason
        for url in (f"http://{gateway}:{target_port}/", "http://example.invalid/"):
            refused = session.get(url, proxies=proxies, timeout=5)
            assert refused.status_code == 403 and "only reaches the test runner's localhost" in refused.text
        with socket.create_connection((gateway, port), timeout=5) as tunnel:  # a CONNECT tunnel too
            tunnel.sendall(f"CONNECT {gateway}:{target_port} HTTP/1.1\r\nHost: {gateway}:{target_port}\r\n\r\n".encode())
            assert b" 403 " in tunnel.recv(4096).split(b"\r\n")[0] + b" "
        # it listens on the farm network's side only, not on every interface
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(TimeoutError):
        target.accept()  # nothing ever connected to the refused target
    target.close()


@contextlib.contextmanager
def request_recorder(host: str) -> Iterator[tuple[str, list[str]]]:
    """A proxy that forwards nothing: it notes each request line it gets and answers 403."""
    seen: list[str] = []
    server = socket.create_server((host, 0))
    server.settimeout(0.2)
    done = threading.Event()

    def serve_forever() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    seen.append(conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace"))
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{host}:{server.getsockname()[1]}", seen
    finally:
        done.set()
        thread.join(5)
        server.close()


def test_a_farm_chrome_session_asks_nothing_of_the_network_by_itself(farm_dir):
    """Every request of the session goes to a recorder (its proxy for every host, loopback too):
    with farm's options Chrome sends none in the seconds after it starts, while a page it is told
    to open does reach the recorder. Chromium 156 asked for its account list at 0, 1 and 4 s, and
    for an update check at once, until farm pointed those services at the node's own loopback."""
    config = load_config(farm_dir)
    with request_recorder(farm_gateway()) as (proxy_address, seen):
        options = browser_options("chrome")
        options.add_argument(f"--proxy-server=http://{proxy_address}")
        options.add_argument("--proxy-bypass-list=<-loopback>")
        driver = remote_driver(config.grid_url, options)
        try:
            driver.get("data:text/html,<title>quiet</title>")
            time.sleep(8)
            by_itself = list(seen)
            with contextlib.suppress(Exception):  # what the page shows is not the point, only that it was asked for
                driver.get("http://example.invalid/")
        finally:
            driver.quit()
    assert by_itself == []
    assert any("example.invalid" in line for line in seen), seen
