"""Launching the suite's pytest for `farm test`: argv, environment, the run's process group,
signals, and watching the Grid while it runs.

The suite's own ini file, conftests and `addopts` apply as under plain `pytest`; arguments after
`farm test ... --` reach pytest unchanged, at collection and at run time, and PYTEST_ADDOPTS is
passed through. Farm's own options come last, so they win where they overlap.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from farm.core.progress import Progress
from farm.core.results import GRID_LOST, HURRIED, INTERRUPTED, TERMINATED
from farm.core.runfolder import RunFolder
from farm.core.watchdog import GridWatchdog
from farm.infra.grid import GridClient


def pytest_env() -> dict[str, str]:
    """A suite may live anywhere (read-only, shared): the run writes only into its results folder,
    so no bytecode caches beside the tests (pytest's cache goes into the run folder)."""
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


def base_command(paths: list[str], passthrough: list[str], run: RunFolder) -> list[str]:
    """pytest with the suite's paths and the user's own arguments, then what every farm pass needs."""
    return [
        sys.executable,
        "-m",
        "pytest",
        *paths,
        *passthrough,
        "-p",
        "xdist",
        "-o",
        f"cache_dir={run.pytest_cache}",
        "--farm-run-dir",
        str(run.path),
    ]


def pytest_error(output: str) -> str:
    """pytest's own one-line reason (a usage error, a collection error) from its output."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    usage = [line for line in lines if ": error: " in line]
    if usage:
        return usage[-1].split(": error: ", 1)[1]
    errors = [line for line in lines if line.startswith(("ERROR", "E ")) or "Error" in line]
    return (errors or lines or ["no output"])[-1]


class Terminated(BaseException):
    """SIGTERM, turned into an exception so a run stops the way Ctrl-C stops it."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def stop_process_group(proc: subprocess.Popen[bytes], grace: float = 30.0) -> bool:
    """SIGINT to pytest and its workers (their fixtures quit the sessions), SIGKILL if they linger.

    A second Ctrl-C while waiting kills the group at once (returns True); no process of the run
    outlives it, and `farm test` then quits the sessions the killed workers left open.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    except (KeyboardInterrupt, Terminated):
        return True
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return False


@dataclass
class Launched:
    exit_code: int
    stopped: str  # why farm stopped it ('' if it ended by itself)
    queue_wait: float


def run_pytest(
    command: list[str], run: RunFolder, client: GridClient, on_tick: Callable[[GridWatchdog], None], progress: Progress
) -> Launched:
    """pytest with xdist in its own process group, watched until it ends or is stopped."""
    watchdog = GridWatchdog(client)
    stopped = ""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with run.pytest_log.open("w", encoding="utf-8") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=pytest_env(), start_new_session=True)
            try:
                tick = 0
                while proc.poll() is None:
                    if tick % 5 == 0:
                        on_tick(watchdog)
                    tick += 1
                    watchdog.sample_queue()
                    if watchdog.lost():
                        stopped = GRID_LOST
                        progress(f"the grid at {client.url} stopped answering; stopping the run")
                        stop_process_group(proc, grace=15)
                        break
                    time.sleep(0.1)
            except (KeyboardInterrupt, Terminated) as exc:
                stopped = TERMINATED if isinstance(exc, Terminated) else INTERRUPTED
                progress(f"{stopped}: stopping the running cells (Ctrl-C again to stop at once)")
                if stop_process_group(proc):
                    stopped = HURRIED
    finally:
        signal.signal(signal.SIGTERM, previous)
    return Launched(proc.returncode, stopped, round(watchdog.queue_wait, 3))
