"""`farm test`: the matrix on the Grid, longest expected first, with results, summary and history.

Flow: grid capacity (farm.capacity) -> pytest with one xdist worker per slot of each browser ->
the workers plan from their one collection (farm.schedule.Planning: expected durations from the
history, the shard, longest first) -> the farm's scheduler dispatches within the capacity ->
one JSON line per finished cell -> summary.json and an updated history. Launching and watching
pytest itself is farm.launch; every file of the run is named by farm.runfolder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from farm import controller as farm_api
from farm import flakiness
from farm import history as history_store
from farm.appserver import serve
from farm.capacity import Capacity
from farm.catalogue import APP_HOST_ALIAS
from farm.config import FarmConfig
from farm.errors import ExitCode, GridError, NoTestsError, Stopped, UsageError
from farm.failures import RERUN_PATTERN
from farm.grid import GridClient
from farm.launch import Launched, base_command, pytest_error, run_pytest
from farm.loopback_proxy import loopback_proxy
from farm.matrix import Cell
from farm.progress import Progress
from farm.report import write_run_files
from farm.results import (
    GRID_LOST,
    HURRIED,
    STOP_EXIT,
    CellResult,
    describe_lost_slots,
    describe_progress,
    exit_code_of,
    read_cells,
    summarize,
)
from farm.runfolder import ReportsFolder, RunFolder, read_lines, write_json_atomic
from farm.schedule import Plan, Planning
from farm.watchdog import GridWatchdog

DEFAULT_SUITE = Path("suites/demo")
# How long a leftover session's delete may take: geckodriver waits up to its 60 s shutdown timeout
# for Firefox to close, and a delete given up half-way leaves the slot busy.
QUIT_TIMEOUT = 90.0


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
    pytest_args: list[str] = field(default_factory=list)  # after `--`: to pytest unchanged
    failed_first: bool = False  # cells that failed in the previous run go first
    video: str | None = None  # off | failed | all; None: the config's `video`
    isolation: str | None = None  # session | context; None: the config's `isolation`
    fail_on_console_error: bool = False  # a cell whose page threw uncaught errors fails

    # `farm test` flags that map onto these fields one to one
    FLAGS: ClassVar[tuple[str, ...]] = (
        "keyword",
        "markexpr",
        "grid_url",
        "results_dir",
        "reruns",
        "timeout",
        "base_url",
        "app_dir",
        "failed_first",
        "video",
        "fail_on_console_error",
        "isolation",
    )


@dataclass
class RunOutcome:
    results_dir: Path
    summary: dict[str, Any]
    results: list[CellResult]
    exit_code: ExitCode
    hurried: bool = False  # a second Ctrl-C: the user wants out now, without a report

    @property
    def summary_path(self) -> Path:
        return RunFolder(self.results_dir).summary

    @property
    def report_dir(self) -> Path:
        return RunFolder(self.results_dir).report


def new_results_dir(config: FarmConfig, requested: str | None) -> Path:
    if requested:
        path = Path(requested)
        if path.exists() and any(path.iterdir()):
            raise UsageError(f"results folder {path} is not empty; pass a new or empty --results-dir")
    else:
        path = ReportsFolder(Path(config.reports_dir)).new_run(f"{datetime.now():%Y%m%d-%H%M%S}").path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create results folder {path}: {exc.strerror}") from exc
    return path


def farm_options(options: TestOptions, browsers: tuple[str, ...], grid_url: str, base_url: str) -> list[str]:
    """What farm adds to the user's pytest arguments, for collection and run alike."""
    args = ["--farm-browsers", ",".join(browsers), "--farm-grid-url", grid_url, "--farm-base-url", base_url]
    if options.fail_on_console_error:
        args.append("--farm-fail-on-console-error")
    if options.isolation and options.isolation != "session":
        args += ["--farm-isolation", options.isolation]
    if options.keyword:
        args += ["-k", options.keyword]
    if options.markexpr:
        args += ["-m", options.markexpr]
    return args


@dataclass
class Application:
    """Where the browsers find the application under test, and how their localhost reaches this machine."""

    base_url: str
    routing: list[str]  # plugin options: the loopback proxy and FARM_APP_HOST


@contextlib.contextmanager
def application(config: FarmConfig, options: TestOptions, own_grid: bool) -> Iterator[Application]:
    """The base URL (serving the suite's app/ folder if it has one) and, on the farm's own grid, the
    loopback proxy that takes the browsers' localhost to this machine, for the length of the run."""
    with contextlib.ExitStack() as stack:
        routing: list[str] = []
        gateway = farm_api.gateway(config) if own_grid else None
        if gateway:
            port = stack.enter_context(loopback_proxy(gateway))
            routing = ["--farm-localhost-proxy", f"{APP_HOST_ALIAS}:{port}", "--farm-app-host", gateway]
        yield Application(_base_url(options, gateway, stack), routing)


def _base_url(options: TestOptions, gateway: str | None, stack: contextlib.ExitStack) -> str:
    """--base-url as given (localhost reaches this machine through the proxy), else the app/ folder
    served on the farm network's gateway (or on 127.0.0.1 for a grid given with --grid-url)."""
    if options.base_url:
        return options.base_url
    app_dir = (
        Path(options.app_dir) if options.app_dir else next((Path(p) / "app" for p in options.paths if (Path(p) / "app").is_dir()), None)
    )
    if app_dir is None:
        return ""
    if not app_dir.is_dir():
        raise UsageError(f"--app-dir {app_dir} is not a folder")
    host, alias = (gateway, APP_HOST_ALIAS) if gateway else ("127.0.0.1", "127.0.0.1")
    port = stack.enter_context(serve(app_dir, host))
    return f"http://{alias}:{port}/"


def video_options(config: FarmConfig, options: TestOptions, own_grid: bool) -> list[str]:
    """--video: the farm's nodes record their sessions; the workers reach them through the engine."""
    mode = options.video or config.video
    if mode == "off":
        return []
    if not own_grid:
        raise UsageError(f"--video {mode} records on the farm's own nodes; a grid given with --grid-url records with its own tools")
    recorder = {"docker_host": config.docker_host, "nodes": farm_api.node_containers(config)}
    return ["--farm-video", mode, "--farm-recorder", json.dumps(recorder)]


def check_capacity(client: GridClient, browsers: tuple[str, ...]) -> Capacity:
    """The Grid's capacity for the run's browsers; every browser needs at least one slot."""
    capacity = client.status().capacity_model()
    missing = [b for b in browsers if capacity.slots.get(b, 0) < 1]
    if missing:
        raise GridError(
            f"the grid at {client.url} has no slots for {', '.join(missing)}; start them with `farm up --browsers {','.join(browsers)}`"
        )
    return capacity.only(browsers)


def farm_secret(config: FarmConfig) -> str:
    """The farm's registration secret, or '' when its engine cannot say (the run still ends)."""
    with contextlib.suppress(Exception):
        return farm_api.registration_secret(config)
    return ""


def quit_leftover_sessions(client: GridClient, ledger: Path, secret: Callable[[], str] = lambda: "") -> list[str]:
    """Delete Grid sessions the run opened but never quit (a killed worker cannot quit its own), and
    those the Grid still holds although their worker began to quit them (it was stopped half-way:
    the node keeps a session whose delete was cut off). The deletes run side by side. One the Grid
    still holds after its delete is stopped on its node with the farm's `secret` (if there is one):
    a node whose own delete was cut off refuses every later one (GridClient.stop_at_node)."""
    open_sessions: dict[str, bool] = {}
    for entry in read_lines(ledger):
        if "session" in entry:
            open_sessions[str(entry["session"])] = entry.get("event") == "open"
    held = set(client.session_ids()) if open_sessions else set()
    leftovers = [sid for sid, is_open in open_sessions.items() if is_open or sid in held]
    if leftovers:
        with ThreadPoolExecutor(max_workers=min(len(leftovers), 16)) as pool:
            list(pool.map(lambda sid: client.delete_session(sid, timeout=QUIT_TIMEOUT), leftovers))
        stuck = sorted(set(leftovers) & set(client.session_ids()))
        key = secret() if stuck else ""
        if key:
            for sid in stuck:
                client.stop_at_node(sid, key)
    return leftovers


def result_options(options: TestOptions, run: RunFolder) -> list[str]:
    """Where results go, and the per-test timeout and reruns."""
    extra = ["--alluredir", str(run.allure_results), "--junitxml", str(run.junit)]
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
    """The scheduler's not-run cells and why."""
    return {str(e["nodeid"]): str(e["reason"]) for e in read_lines(path) if "nodeid" in e and "reason" in e}


def run_matrix(config: FarmConfig, options: TestOptions, progress: Progress) -> RunOutcome:
    for path in options.paths:
        if not Path(path.split("::")[0]).exists():
            raise UsageError(f"test path {path} does not exist")
    own_grid = options.grid_url is None
    client = GridClient(options.grid_url or config.grid_url)
    options = dataclasses.replace(options, isolation=options.isolation or config.isolation)
    recording = video_options(config, options, own_grid)
    capacity = check_capacity(client, config.browsers)
    run = RunFolder(new_results_dir(config, options.results_dir))
    reports = ReportsFolder(Path(config.reports_dir))
    try:
        with application(config, options, own_grid) as app:
            # One collection: the workers plan from what they collect (farm.schedule.Planning).
            planning = Planning(capacity, history_store.load(reports.durations), failed_before(reports, options), options.shard)
            planning.dump(run.planning)
            workers = capacity.first_workers()
            started = time.monotonic()

            seen: list[Plan] = []  # the plan, read once the first worker has written it

            def on_tick(watchdog: GridWatchdog) -> None:
                plan = seen[0] if seen else _plan_so_far(run)
                if plan is None or not plan.cells:
                    progress("collecting the matrix")
                    return
                seen[:1] = [plan]
                lost = describe_lost_slots(plan.slots, watchdog.slots)
                progress("; ".join(filter(None, [describe_progress(read_cells(run.cells), len(plan.cells), started, plan), lost])))

            launched = run_pytest(
                [
                    *base_command(options.paths, options.pytest_args, run),
                    *farm_options(options, config.browsers, client.url, app.base_url),
                    *app.routing,
                    *result_options(options, run),
                    *recording,
                    "-n",
                    str(workers),
                    "--max-worker-restart",
                    str(capacity.workers() * 2),
                ],
                run,
                client,
                on_tick,
                progress,
            )
            plan = planned(run, launched)
            served_base_url = app.base_url
    except BaseException:
        if not run.started():  # nothing ran: leave no half-made folder
            shutil.rmtree(run.path, ignore_errors=True)
        raise
    # Shards of one pipeline must split one snapshot of the history the same way, so a shard never
    # rewrites it; `farm report` over all shards learns their durations afterwards.
    secret = (lambda: farm_secret(config)) if own_grid else (lambda: "")
    return finish_run(run, client, plan, launched, served_base_url, reports, learn=not options.shard, secret=secret)


def _plan_so_far(run: RunFolder) -> Plan | None:
    """The plan once the first worker has collected (None before)."""
    try:
        return Plan.load(run.plan)
    except (OSError, ValueError, KeyError):
        return None


def planned(run: RunFolder, launched: Launched) -> Plan:
    """The run's plan; a pytest that never got to plan (usage or collection error, nothing
    collected, stopped while collecting) says why in one line."""
    plan = _plan_so_far(run)
    if plan is not None and plan.cells:
        return plan
    if launched.stopped:
        raise Stopped(f"{launched.stopped} before any cell ran", STOP_EXIT[launched.stopped])
    if launched.exit_code == ExitCode.NO_TESTS or plan is not None:
        raise NoTestsError("no tests collected (check PATH, -k and -m)")
    output = run.pytest_log.read_text(encoding="utf-8", errors="replace") if run.pytest_log.exists() else ""
    raise UsageError(f"pytest refused the suite (exit {launched.exit_code}): {pytest_error(output)}")


def failed_before(reports: ReportsFolder, options: TestOptions) -> frozenset[tuple[str, str]]:
    """--failed-first: the (test, browser) pairs that failed or broke in the previous run."""
    if not options.failed_first:
        return frozenset()
    return frozenset(flakiness.failed_last_time(flakiness.load(reports.outcomes)))


def finish_run(
    run: RunFolder,
    client: GridClient,
    plan: Plan,
    launched: Launched,
    base_url: str,
    reports: ReportsFolder,
    learn: bool,
    secret: Callable[[], str] = lambda: "",
) -> RunOutcome:
    """Sessions a killed worker left, the summary with flaky marks, Allure's side files, and what the
    history learns (durations, verdicts)."""
    pytest_exit, stopped, queue_wait = launched.exit_code, launched.stopped, launched.queue_wait
    cells = plan.planned_cells()
    quit_leftover_sessions(client, run.sessions, secret)
    results = _complete(read_cells(run.cells), cells)
    try:
        grid = client.status().to_json()
    except GridError:  # the grid died under the run (often faster than the watchdog's grace)
        grid = {"grid_url": client.url}
        stopped = stopped or GRID_LOST
    summary = summarize(results, cells, plan.capacity, plan.predicted_makespan, read_dropped(run.dropped), stopped)
    summary["makespan"]["estimated"] = plan.estimated
    summary.update(pytest_exit=pytest_exit, stopped=stopped, base_url=base_url, grid=grid, queue_wait=queue_wait)
    outcomes = flakiness.record(flakiness.load(reports.outcomes), results)
    summary["flaky"] = flakiness.mark(summary["cells"], outcomes)
    write_json_atomic(run.summary, summary)
    write_run_files(run.allure_results, summary, summary["grid"], base_url)
    if learn:
        learned = history_store.merge(history_store.load(reports.durations), history_store.learnable(results), {c.test_id for c in cells})
        history_store.save(reports.durations, learned)
        flakiness.save(reports.outcomes, outcomes)
    exit_code = exit_code_of(summary, pytest_exit, stopped)
    return RunOutcome(run.path, summary, results, exit_code, hurried=stopped == HURRIED)


def _complete(results: list[CellResult], cells: list[Cell]) -> list[CellResult]:
    """Fill in browser and test id for cells whose worker crashed before reporting them."""
    known = {c.nodeid: c for c in cells}
    for result in results:
        cell = known.get(result.nodeid)
        if cell:
            result.browser = result.browser or cell.browser
            result.test_id = cell.test_id
    return results


def learn_from_summaries(folders: list[Path], reports_dir: Path) -> None:
    """Fold the durations of finished runs (e.g. every shard of a CI matrix) into the history."""
    history_path = ReportsFolder(reports_dir).durations
    measured: dict[tuple[str, str], float] = {}
    for folder in folders:
        path = RunFolder(folder).summary
        if not path.is_file():
            continue
        try:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            measured.update(history_store.learnable([CellResult(**cell) for cell in cells]))
        except (ValueError, KeyError, TypeError):
            continue  # a half-written or foreign summary teaches nothing
    if measured:
        old = history_store.load(history_path)
        history_store.save(history_path, history_store.merge(old, measured, {t for t, _ in old} | {t for t, _ in measured}))
