"""scripts/setup on a machine where no engine answers: it starts one, and that engine outlives set-up.

Set-up runs its steps side by side and stops whatever of them is left when it exits; the engine it
starts must not be one of those (CI once ran its tests against an engine set-up had just stopped).
The real engine cannot be started twice on one machine, so `docker` and `dockerd` are stand-ins on
PATH here: `docker info` answers only once the stand-in engine has started, as the real pair does.
Everything else set-up does is real and already done on this machine, so it only checks.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPOSITORY = Path(__file__).resolve().parents[2]
DOCKER = """#!/bin/sh
[ "$1" = info ] && [ -e "{started}" ] && exit 0
exit 1
"""
DOCKERD = """#!/bin/sh
touch "{started}"
exec sleep 600
"""


def alive(pid: int) -> bool:
    """Running, not a zombie left for its parent to reap."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(os.geteuid() != 0, reason="set-up starts an engine only as root")
def test_the_engine_setup_starts_outlives_setup(tmp_path):
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(REPOSITORY / "scripts" / "setup", project / "scripts" / "setup")
    shutil.copy2(REPOSITORY / "pyproject.toml", project / "pyproject.toml")
    (project / ".venv").symlink_to(REPOSITORY / ".venv")
    shims = tmp_path / "bin"
    shims.mkdir()
    started = tmp_path / "engine-started"
    for name, text in {"docker": DOCKER, "dockerd": DOCKERD}.items():
        (shims / name).write_text(text.format(started=started))
        (shims / name).chmod(0o755)
    pidfile = tmp_path / "dockerd.pid"
    env = {
        **os.environ,
        "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}",
        "FARM_DOCKERD_PIDFILE": str(pidfile),
        "FARM_DOCKERD_LOG": str(tmp_path / "dockerd.log"),
    }
    proc = subprocess.run([project / "scripts" / "setup", "--tests"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "setup: starting dockerd" in proc.stdout
    pid = int(pidfile.read_text())
    try:
        assert alive(pid), "the engine set-up started was stopped when set-up exited"
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
