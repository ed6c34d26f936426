"""`farm test`: the matrix on the Grid, longest expected first, with results, summary and history.

Flow: grid capacity -> collect the matrix once -> expected durations from history -> (shard) ->
plan -> pytest with xdist workers = the Grid's slots and the farm's scheduler -> one JSON line per
finished cell -> summary.json and an updated history.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from farm import history as history_store
from farm import labels
from farm.appserver import LOOPBACK_NAMES, relay, serve
from farm.browsers import RERUN_PATTERN
from farm.config import FarmConfig
from farm.engine import Engine
from farm.errors import ExitCode, GridError, NoTestsError, UsageError
from farm.farm import APP_HOST_ALIAS, Farm
from farm.grid import GridClient
from farm.matrix import Cell
from farm.report import write_run_files
from farm.results import CellResult, read_cells, summarize, write_json_atomic
from farm.schedule import Plan, expected_durations, shard

DEFAULT_SUITE = Path("suites/demo")
HISTORY_FILE = "history.json"
DROPPED_FILE = "dropped.jsonl"  # cells the scheduler could not run (no slot left), with the reason
GRID_LOST_AFTER = 15.0  # seconds without an answer from the Grid before a run is given up
Progress = Callable[[str], None]


@dataclass
class TestOptions:
    paths: list[str] = field(default_factory=lambda: [str(DEFAULT_SUITE)])
    keyword: str | None = None
    markexpr: str | None = None
    grid_url: str | None = None
    results_dir: str | None = None
    reruns: int = 0
    timeout: float | None = None
    shard: tuple[int, int] | None = None
    base_url: str | None = None
    app_dir: str | None = None


@dataclass
class RunOutcome:
    results_dir: Path
    summary: dict[str, Any]
    results: list[CellResult]
    exit_code: ExitCode
    hurried: bool = False  # a second Ctrl-C: the user wants out now, without a report


def parse_shard(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 1 <= int(index) <= int(count):
        raise UsageError(f"malformed --shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/4")
    return int(index), int(count)


def new_results_dir(config: FarmConfig, requested: str | None) -> Path:
    if requested:
        path = Path(requested)
        if path.exists() and any(path.iterdir()):
            raise UsageError(f"results folder {path} is not empty; pass a new or empty --results-dir")
    else:
        path = Path(config.reports_dir) / f"run-{datetime.now():%Y%m%d-%H%M%S}"
        suffix = 1
        while path.exists():
            suffix += 1
            path = path.with_name(f"{path.name.split('.')[0]}.{suffix}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create results folder {path}: {exc.strerror}") from exc
    return path


def pytest_args(options: TestOptions, browsers: tuple[str, ...], grid_url: str, base_url: str) -> list[str]:
    args = [
        *options.paths,
        "-p",
        "no:cacheprovider",
        "--farm-browsers",
        ",".join(browsers),
        "--farm-grid-url",
        grid_url,
        "--farm-base-url",
        base_url,
    ]
    if options.keyword:
        args += ["-k", options.keyword]
    if options.markexpr:
        args += ["-m", options.markexpr]
    return args


def pytest_env() -> dict[str, str]:
    """A suite may live anywhere (read-only, shared): the run writes only into its results folder,
    so no bytecode caches beside the tests (the cache provider is off too)."""
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def collect(args: list[str], results_dir: Path) -> list[Cell]:
    """Collect the matrix once, in a pytest of its own; exit 5 and usage errors become FarmErrors."""
    out = results_dir / "matrix.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--collect-only", "-q", "--farm-collect", str(out)],
        capture_output=True,
        text=True,
        env=pytest_env(),
    )
    if proc.returncode == 5 or (proc.returncode == 0 and not out.exists()):
        raise NoTestsError("no tests collected (check PATH, -k and -m)")
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        detail = next((line for line in reversed(lines) if "ERROR" in line or "error" in line), lines[-1] if lines else "")
        raise UsageError(f"collecting the suite failed (pytest exit {proc.returncode}): {detail.strip()}")
    cells = [Cell(**raw) for raw in json.loads(out.read_text(encoding="utf-8"))]
    if not cells:
        raise NoTestsError("no tests collected (check PATH, -k and -m)")
    return cells


@contextlib.contextmanager
def application(config: FarmConfig, options: TestOptions, own_grid: bool) -> Iterator[str]:
    """The base URL of the application under test, serving the suite's app/ folder if there is one."""
    if options.base_url:
        url = urlsplit(options.base_url)
        if not own_grid or url.hostname not in LOOPBACK_NAMES or url.port is None:
            yield options.base_url
            return
        # the browsers' localhost is their container: relay the host's port over the farm network
        with relay(_gateway(config), url.port) as port:
            yield urlunsplit(url._replace(netloc=f"{APP_HOST_ALIAS}:{port}"))
        return
    app_dir = (
        Path(options.app_dir) if options.app_dir else next((Path(p) / "app" for p in options.paths if (Path(p) / "app").is_dir()), None)
    )
    if app_dir is None:
        yield ""
        return
    if not app_dir.is_dir():
        raise UsageError(f"--app-dir {app_dir} is not a folder")
    if own_grid:
        host, alias = _gateway(config), APP_HOST_ALIAS
    else:
        host = alias = "127.0.0.1"
    with serve(app_dir, host) as port:
        yield f"http://{alias}:{port}/"


def _gateway(config: FarmConfig) -> str:
    """The farm network's gateway: the host address its containers reach as `farm-host`."""
    farm = Farm(config, Engine.connect(config.docker_host))
    network = farm.engine.find_network(farm.network_name)
    if network is None:
        raise GridError(f"the farm network {farm.network_name} is missing; run `farm up`")
    return farm.engine.network_gateway(network)


def check_capacity(client: GridClient, browsers: tuple[str, ...]) -> dict[str, int]:
    slots = client.status().slots()
    missing = [b for b in browsers if slots.get(b, 0) < 1]
    if missing:
        raise GridError(
            f"the grid at {client.url} has no slots for {', '.join(missing)}; start them with `farm up --browsers {','.join(browsers)}`"
        )
    return {b: slots[b] for b in browsers}


def describe_progress(results: list[CellResult], total: int, started: float, plan: Plan) -> str:
    done = len(results)
    passed = sum(1 for r in results if r.status in ("passed", "skipped"))
    failed = done - passed
    elapsed = time.monotonic() - started
    finished = {r.nodeid for r in results}
    remaining_work = sum(float(c["expected"]) for n, c in plan.cells.items() if n not in finished)
    remaining = max(plan.predicted_makespan - elapsed, remaining_work / max(1, sum(plan.slots.values())), 0.0)
    return f"{done}/{total} cells, {passed} ok, {failed} failed, {elapsed:.0f}s elapsed, ~{remaining:.0f}s left"


class Terminated(BaseException):
    """SIGTERM, turned into an exception so a run stops the way Ctrl-C stops it."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


HURRIED = "interrupted twice"
STOP_EXIT = {
    "interrupted": ExitCode.INTERRUPTED,
    HURRIED: ExitCode.INTERRUPTED,
    "terminated": ExitCode.TERMINATED,
    "grid lost": ExitCode.INFRASTRUCTURE,
}


class GridWatchdog:
    """Notices a Grid that stopped answering (hub killed) and says when to give up on the run."""

    def __init__(self, client: GridClient, grace: float = GRID_LOST_AFTER, every: float = 2.0) -> None:
        self.client, self.grace, self.every = client, grace, every
        self.checked = 0.0
        self.failing_since: float | None = None
        self.slots: dict[str, int] | None = None  # UP slots per browser at the last answer

    def lost(self) -> bool:
        now = time.monotonic()
        if now - self.checked < self.every:
            return False
        self.checked = now
        try:
            self.slots = self.client.status().slots()
            self.failing_since = None
        except GridError:
            self.failing_since = self.failing_since or now
        return self.failing_since is not None and now - self.failing_since >= self.grace


def describe_lost_slots(planned: dict[str, int], now: dict[str, int] | None) -> str:
    """'' while every browser has its slots; else which browsers lost how many (nodes DOWN)."""
    if now is None:
        return ""
    short = [f"{b} {now.get(b, 0)} of {n}" for b, n in planned.items() if now.get(b, 0) < n]
    return ("slots up: " + ", ".join(short) + " (a node is down; its cells run again on what is left)") if short else ""


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


def run_pytest(args: list[str], plan: Plan, results_dir: Path, progress: Progress, client: GridClient) -> tuple[int, str]:
    """pytest with xdist in its own process group; returns its exit code and why it was stopped ('' if not)."""
    cells_path = results_dir / "cells.jsonl"
    workers = sum(plan.slots.values())
    command = [
        sys.executable,
        "-m",
        "pytest",
        *args,
        "-p",
        "xdist",
        "-n",
        str(workers),
        "--max-worker-restart",
        str(workers * 2),
        "--farm-plan",
        str(results_dir / "plan.json"),
        "--farm-cells",
        str(cells_path),
        "--farm-sessions",
        str(results_dir / "sessions.jsonl"),
        "--farm-dropped",
        str(results_dir / DROPPED_FILE),
    ]
    started = time.monotonic()
    env = {**pytest_env(), "PYTHONUNBUFFERED": "1", "FARM_SESSION": labels.SESSION_ID}
    watchdog = GridWatchdog(client)
    reason = ""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with (results_dir / "pytest.log").open("w", encoding="utf-8") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                while proc.poll() is None:
                    lost_slots = describe_lost_slots(plan.slots, watchdog.slots)
                    progress(
                        "; ".join(filter(None, [describe_progress(read_cells(cells_path), len(plan.cells), started, plan), lost_slots]))
                    )
                    if watchdog.lost():
                        reason = "grid lost"
                        progress(f"the grid at {client.url} stopped answering; stopping the run")
                        stop_process_group(proc, grace=15)
                        break
                    time.sleep(0.5)
            except (KeyboardInterrupt, Terminated) as exc:
                reason = "terminated" if isinstance(exc, Terminated) else "interrupted"
                progress(f"{reason}: stopping the running cells (Ctrl-C again to stop at once)")
                if stop_process_group(proc):
                    reason = HURRIED
    finally:
        signal.signal(signal.SIGTERM, previous)
    return proc.returncode, reason


def quit_leftover_sessions(client: GridClient, ledger: Path) -> list[str]:
    """Delete Grid sessions the run opened but never quit (a killed worker cannot quit its own)."""
    open_sessions: dict[str, bool] = {}
    if ledger.exists():
        for line in ledger.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, KeyError):
                entry = json.loads(line)
                open_sessions[entry["session"]] = entry["event"] == "open"
    leftovers = [sid for sid, is_open in open_sessions.items() if is_open]
    for session_id in leftovers:
        client.delete_session(session_id)
    return leftovers


def measured_durations(results: list[CellResult]) -> dict[tuple[str, str], float]:
    """Durations worth learning from: cells that ran to a verdict (not skipped, not broken), in
    one attempt or after test failures only (a lost node's timeout says nothing of the test)."""
    return {
        (r.test_id, r.browser): r.duration
        for r in results
        if r.status in ("passed", "failed") and not any(why.startswith("infrastructure") for why in r.retries)
    }


def result_options(options: TestOptions, results_dir: Path) -> list[str]:
    """Where results go, and the per-test timeout and reruns."""
    extra = ["--alluredir", str(results_dir / "allure-results"), "--junitxml", str(results_dir / "junit.xml")]
    extra += ["--farm-artifacts", str(results_dir / "screenshots")]
    if options.timeout:
        # pytest-timeout arms its timer once per protocol, and rerunfailures runs the attempts
        # inside it: time each call instead, or a rerun would have no timeout at all.
        extra += ["--timeout", str(options.timeout), "-o", "timeout_func_only=true"]
    if options.reruns:
        extra += ["--reruns", str(options.reruns)]
    else:
        # A cell whose node or browser was lost runs once more, on a slot that is still there.
        extra += ["--reruns", "1", "--only-rerun", RERUN_PATTERN]
    return extra


def read_dropped(path: Path) -> dict[str, str]:
    """The scheduler's not-run cells and why; a torn last line (killed writer) is skipped."""
    reasons: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                entry = json.loads(line)
                reasons[str(entry["nodeid"])] = str(entry["reason"])
    return reasons


def run_matrix(config: FarmConfig, options: TestOptions, progress: Progress) -> RunOutcome:
    for path in options.paths:
        if not Path(path.split("::")[0]).exists():
            raise UsageError(f"test path {path} does not exist")
    own_grid = options.grid_url is None
    client = GridClient(options.grid_url or config.grid_url)
    slots = check_capacity(client, config.browsers)
    results_dir = new_results_dir(config, options.results_dir)
    history_path = Path(config.reports_dir) / HISTORY_FILE
    try:
        with application(config, options, own_grid) as base_url:
            args = pytest_args(options, config.browsers, client.url, base_url)
            progress("collecting the matrix")
            cells = collect(args, results_dir)
            expected = expected_durations(cells, history_store.load(history_path))
            if options.shard:
                cells = shard(cells, expected, *options.shard)
            plan = Plan.build(cells, expected, slots)
            plan.dump(results_dir / "plan.json")
            code, stopped = run_pytest([*args, *result_options(options, results_dir)], plan, results_dir, progress, client)
            served_base_url = base_url
    except BaseException:
        if not (results_dir / "cells.jsonl").exists():  # nothing ran: leave no half-made folder
            shutil.rmtree(results_dir, ignore_errors=True)
        raise
    quit_leftover_sessions(client, results_dir / "sessions.jsonl")
    results = _complete(read_cells(results_dir / "cells.jsonl"), cells)
    try:
        grid = client.status().to_json()
    except GridError:  # the grid died under the run (often faster than the watchdog's grace)
        grid = {"grid_url": client.url}
        stopped = stopped or "grid lost"
    summary = summarize(results, cells, slots, plan.predicted_makespan, read_dropped(results_dir / DROPPED_FILE), stopped)
    summary["pytest_exit"] = code
    summary["stopped"] = stopped
    summary["base_url"] = served_base_url
    summary["grid"] = grid
    write_json_atomic(results_dir / "summary.json", summary)
    write_run_files(results_dir / "allure-results", summary, summary["grid"], served_base_url)
    if not options.shard:
        # Shards of one pipeline must split one snapshot of the history the same way, so a shard
        # never rewrites it; `farm report` over all shards learns their durations afterwards.
        learned = history_store.merge(history_store.load(history_path), measured_durations(results), {c.test_id for c in cells})
        history_store.save(history_path, learned)
    exit_code = STOP_EXIT[stopped] if stopped else _exit_code(summary, code)
    return RunOutcome(results_dir, summary, results, exit_code, hurried=stopped == HURRIED)


def _complete(results: list[CellResult], cells: list[Cell]) -> list[CellResult]:
    """Fill in browser and test id for cells whose worker crashed before reporting them."""
    known = {c.nodeid: c for c in cells}
    for result in results:
        cell = known.get(result.nodeid)
        if cell:
            result.browser = result.browser or cell.browser
            result.test_id = cell.test_id
    return results


def _exit_code(summary: dict[str, Any], pytest_exit: int) -> ExitCode:
    """3 when the matrix could not be run whole (cells not run), 1 when cells failed, else 0."""
    counts = summary["counts"]
    if summary["not_run"] or pytest_exit in (2, 3, 4):  # pytest itself interrupted, crashed or misused
        return ExitCode.INFRASTRUCTURE
    if counts["failed"] or counts["broken"]:
        return ExitCode.TESTS_FAILED
    return ExitCode.OK


def learn_from_summaries(folders: list[Path], reports_dir: Path) -> None:
    """Fold the durations of finished runs (e.g. every shard of a CI matrix) into the history."""
    history_path = reports_dir / HISTORY_FILE
    measured: dict[tuple[str, str], float] = {}
    for folder in folders:
        path = folder / "summary.json"
        if not path.is_file():
            continue
        try:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            measured.update(measured_durations([CellResult(**cell) for cell in cells]))
        except (ValueError, KeyError, TypeError):
            continue  # a half-written or foreign summary teaches nothing
    if measured:
        old = history_store.load(history_path)
        history_store.save(history_path, history_store.merge(old, measured, {t for t, _ in old} | {t for t, _ in measured}))
