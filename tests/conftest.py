"""Shared helpers: call the CLI in-process and look at what the farm left on the engine."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import docker
import pytest

from farm.cli.main import main
from farm.core import labels

T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, timeout: float = 30, interval: float = 0.3) -> T:
    """Poll `condition` until it returns something truthy and return that; fail naming `what` after
    `timeout` seconds. The one way the integration tests wait for something to happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting until {what}")
        time.sleep(interval)


def default_signals() -> None:
    """`preexec_fn` for a child process that a test stops with a signal. A test run started with
    SIGINT ignored (a background job of a script) hands that to its children, and a Python child
    that starts with SIGINT ignored never sees Ctrl-C: the test, not farm, sets what it sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


BROWSERS = ("chrome", "firefox")


def is_png(path: str | Path) -> bool:
    return Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def statuses(summary: dict) -> dict[tuple[str, str], str]:
    """(test name, browser) -> status, from a run's summary.json."""
    return {(c["test_id"].split("::")[-1], c["browser"]): c["status"] for c in summary["cells"]}


def assert_statuses(summary: dict, expected: dict[str, str], browsers: tuple[str, ...] = ("chrome", "firefox")) -> None:
    """Exactly these statuses, on every browser: nothing more, nothing less."""
    assert statuses(summary) == {(test, browser): status for test, status in expected.items() for browser in browsers}


def serving(suite: str | Path) -> list[str]:
    """`--app-dir` for a suite of these tests that ships its app in app/ (farm serves nothing unless asked)."""
    app = Path(str(suite).split("::")[0]) / "app"
    return ["--app-dir", str(app)] if app.is_dir() else []


REPOSITORY = Path(__file__).resolve().parents[1]


def user_environment(home: Path) -> dict[str, str]:
    """The environment of a user with an empty HOME: none of farm's or this run's variables, only the
    machine's package-manager settings (pip's and npm's say where the registries are)."""
    home.mkdir(parents=True, exist_ok=True)
    for setting in (".npmrc", ".config/pip"):
        source = Path.home() / setting
        if source.is_file():
            shutil.copy(source, home / setting)
        elif source.is_dir():
            shutil.copytree(source, home / setting)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FARM_", "PYTEST_", "VIRTUAL_ENV", "PYTHON"))}
    env["HOME"] = str(home)
    return env


def farm_venv(root: Path, env: dict[str, str], *pins: str) -> Path:
    """A fresh venv with farm installed from its wheel (and the given pins, resolved together with
    farm's own requirements, as pip does in a user's project); returns its bin/ folder."""

    def run(*command: str) -> None:
        proc = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{' '.join(command)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"

    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(REPOSITORY))
    (wheel,) = (root / "dist").glob("selenium_grid_farm-*.whl")
    run(sys.executable, "-m", "venv", str(root / "venv"))
    run(str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel), *pins)
    return root / "venv" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(directory: Path, name: str, port: int, **extra: object) -> None:
    lines = [f'name = "{name}"', f"hub_port = {port}", 'image_set = "local"', "offline = true", f'reports_dir = "{directory / "reports"}"']
    lines += [f"{key} = {value!r}".replace("'", '"') for key, value in extra.items()]
    (directory / "farm.toml").write_text("\n".join(lines) + "\n")


def leftovers(name: str) -> list[str]:
    """Names of containers and networks carrying this farm's labels."""
    client = docker.from_env()
    try:
        selector = {"label": labels.selector(name)}
        return [c.name for c in client.containers.list(all=True, filters=selector, ignore_removed=True)] + [
            n.name for n in client.networks.list(filters=selector)
        ]
    finally:
        client.close()


class Cli:
    """Runs `farm ...` in-process in the farm's folder and keeps what it printed."""

    def __init__(self, directory: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.directory = directory
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(self.directory)
            self.capsys.readouterr()
            code = main(list(args))
            out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli_in(capsys: pytest.CaptureFixture[str]):
    return lambda directory: Cli(directory, capsys)


def module_farm(tmp_path_factory: pytest.TempPathFactory, name: str):
    """A real farm (chrome + firefox, its own name and port) for one test module; removed afterwards."""
    directory = tmp_path_factory.mktemp("farm")
    port = free_port()
    write_config(directory, name, port)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(directory)
        assert main(["up", "--browsers", "chrome,firefox"]) == 0
    yield directory, port
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(directory)
        main(["down"])


def module_farm_dir(name: str):
    """A module's `farm_dir` fixture: a real farm of its own (`name`), removed after the module."""

    @pytest.fixture(scope="module")
    def farm_dir(tmp_path_factory: pytest.TempPathFactory):
        for directory, _port in module_farm(tmp_path_factory, name):
            yield directory

    return farm_dir
