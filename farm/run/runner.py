"""`farm test`: the matrix on the Grid, longest expected first, with results, summary and durations.

Flow: grid capacity (farm.core.capacity) -> pytest with one xdist worker per slot of each browser ->
the workers plan from their one collection (farm.core.schedule.Planning: expected durations from the
measured ones, the shard, longest first) -> the farm's scheduler dispatches within the capacity ->
one JSON line per finished cell -> summary.json and the updated durations. Launching and watching
pytest itself is farm.run.launch; every file of the run is named by farm.core.runfolder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farm.core import durations, flakiness
from farm.core.capacity import Capacity
from farm.core.config import FarmConfig
from farm.core.errors import ExitCode, GridError, NoTestsError, Stopped, UsageError
from farm.core.matrix import Cell
from farm.core.progress import Progress
from farm.core.results import (
    GRID_LOST,
    HURRIED,
    STOP_EXIT,
    CellResult,
    describe_lost_slots,
    describe_progress,
    exit_code_of,
    first_round_revision,
    read_cells,
    summarize,
)
from farm.core.runfolder import ReportsFolder, RunFolder, read_lines, write_json_atomic
from farm.core.schedule import Plan, Planning
from farm.core.supported import check_supported
from farm.core.watchdog import GridWatchdog
from farm.infra.farms import FarmLink
from farm.infra.grid import GridClient
from farm.run.cleanup import farm_secret, quit_leftover_sessions
from farm.run.launch import Launched, base_command, pytest_error, run_pytest
from farm.run.learning import failed_before, learn_run
from farm.run.options import TestOptions, farm_options, new_results_dir, result_options
from farm.run.report import write_run_files
from farm.run.services import application, video_options


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


def check_capacity(client: GridClient, browsers: tuple[str, ...]) -> Capacity:
    """The Grid's capacity for the run's browsers; every browser needs at least one slot."""
    capacity = client.status().capacity_model()
    missing = [b for b in browsers if capacity.slots.get(b, 0) < 1]
    if missing:
        raise GridError(
            f"the grid at {client.url} has no slots for {', '.join(missing)}; start them with `farm up --browsers {','.join(browsers)}`"
        )
    return capacity.only(browsers)


def read_dropped(path: Path) -> dict[str, str]:
    """The scheduler's not-run cells and why."""
    return {str(e["nodeid"]): str(e["reason"]) for e in read_lines(path) if "nodeid" in e and "reason" in e}


def run_matrix(config: FarmConfig, options: TestOptions, progress: Progress) -> RunOutcome:
    check_supported()  # the suite's pytest runs in this environment: an unsupported selenium stops here
    for path in options.paths:
        if not Path(path.split("::")[0]).exists():
            raise UsageError(f"test path {path} does not exist")
    # The farm's own grid is reached over one engine connection for the whole run (None: --grid-url).
    with FarmLink(config) if options.grid_url is None else contextlib.nullcontext() as farm:
        return _run_matrix(config, options, progress, farm)


def _run_matrix(config: FarmConfig, options: TestOptions, progress: Progress, farm: FarmLink | None) -> RunOutcome:
    client = GridClient(options.grid_url or config.grid_url)
    app_dir = options.app_dir or ("" if options.base_url else config.app_dir)  # --base-url beats the config's app
    options = dataclasses.replace(
        options,
        isolation=options.isolation or config.isolation,
        app_dir=app_dir or None,
        browser_option=options.browser_option or config.browser_option or None,
    )
    recording = video_options(config, options, farm)
    capacity = check_capacity(client, config.browsers)
    if options.workers:
        capacity = capacity.at_most(options.workers)
    run = RunFolder(new_results_dir(config, options.results_dir))
    reports = ReportsFolder(Path(config.reports_dir))
    try:
        with application(options, farm) as app:
            # One collection: the workers plan from what they collect (farm.core.schedule.Planning).
            stored = durations.read(reports.durations)
            planning = Planning(
                capacity, stored.seconds, failed_before(reports, options), options.shard, browserless=frozenset(stored.no_browser)
            )
            planning.dump(run.planning)
            workers = capacity.initial_workers()
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
    # Shards of one pipeline must split one snapshot of the durations the same way, so a shard never
    # rewrites them; `farm report` over all shards learns them (and their verdicts) afterwards.
    secret = (lambda: farm_secret(farm)) if farm is not None else (lambda: "")
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
    next runs learn (durations, verdicts)."""
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
    revision = first_round_revision(results, plan)
    if revision:
        summary["makespan"]["revised"] = revision  # the guess, once the first cells were measured
    summary.update(pytest_exit=pytest_exit, stopped=stopped, base_url=base_url, grid=grid, queue_wait=queue_wait, run_id=uuid.uuid4().hex)
    outcomes = flakiness.record(flakiness.load(reports.outcomes), results)
    summary["flaky"] = flakiness.mark(summary["cells"], outcomes)
    write_json_atomic(run.summary, summary)
    write_run_files(run.allure_results, summary, summary["grid"], base_url)
    if learn:
        learn_run(reports, summary["run_id"], results)
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
