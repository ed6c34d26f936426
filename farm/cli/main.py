"""The `farm` command: parse flags, call one library function, print its result.

`farm test [PATH...] [farm options] -- [pytest args...]`: everything after the first `--` goes to
pytest unchanged (main() splits it off before click parses the rest).

Every failure is a FarmError with a one-line message and an exit code (farm.core.errors.ExitCode);
`main(argv)` returns that code so tests can call the CLI directly.

`farm test` and `farm report` import the run's modules (pytest's side, the loopback proxy, the
report builder) when they are called: `farm up`, `status` and `down` start ~0.15 s sooner without
them, and `farm up` is waited for (benchmarks/farm_up.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from farm import __version__, resources
from farm.cli import views
from farm.cli.terminal import reporting, stderr, stdout
from farm.core.catalogue import buildable, parse_browsers
from farm.core.config import ISOLATION_MODES, REPORT_GENERATORS, VIDEO_MODES, FarmConfig, load_config, parse_counts, parse_images
from farm.core.errors import ExitCode, FarmError
from farm.core.runfolder import ReportsFolder
from farm.core.schedule import parse_shard
from farm.infra import farms
from farm.infra import images as images_api
from farm.infra import started as farm_record
from farm.infra.engine import Engine

name_option = click.option("--name", default=None, help="Farm name (labels and container names).")
docker_option = click.option("--docker-host", default=None, help="Docker engine URL (default: DOCKER_HOST or the local socket).")
browsers_option = click.option("--browsers", "-b", default=None, help="Comma-separated browsers: chrome,firefox,edge.")
grid_url_option = click.option("--grid-url", default=None, help="Use this existing Selenium Grid 4 instead of the farm's own.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="farm")
def app() -> None:
    """Run pytest + Selenium suites on every browser through a Selenium Grid on Docker."""


@app.group()
def images() -> None:
    """Images for the hub and browser nodes."""


def config_from(started: bool = True, **flags: Any) -> FarmConfig:
    """The config file plus flags; string flags are parsed here so their errors name the flag.
    `started`: where `farm up` put this farm (its engine and hub) beats the file and environment."""
    if flags.get("browsers") is not None:
        flags["browsers"] = parse_browsers(flags["browsers"])
    if flags.get("nodes") is not None:
        flags["nodes"] = parse_counts(flags["nodes"])
    if flags.get("images") is not None:
        flags["images"] = parse_images(",".join(flags["images"])) if flags["images"] else None
    config = load_config(Path.cwd(), **flags)
    record = farm_record.recall(config.name) if started else {}
    return load_config(Path.cwd(), started=record, **flags) if record else config


def show(lines: Iterable[Table | str]) -> None:
    for line in lines:
        stdout.print(line, markup=False) if isinstance(line, str) else stdout.print(line)


# ------------------------------------------------------------------------------------------------
# commands


@app.command()
@browsers_option
@click.option("--nodes", default=None, help="Nodes per browser, e.g. chrome=2,firefox=1.")
@click.option("--max-sessions", type=int, default=None, help="Session slots per node.")
@click.option(
    "--capacity",
    type=click.Choice(["browser", "shared"]),
    default=None,
    help="browser: nodes of one browser each (default); shared: nodes serving chrome and firefox from one pool of sessions.",
)
@click.option(
    "--mode",
    type=click.Choice(["engine", "swarm"]),
    default=None,
    help="engine: containers on one Docker engine (default); swarm: services on the swarm whose manager is --docker-host.",
)
@click.option("--registry", default=None, help="swarm: the registry HOST:PORT every host pulls the farm's images from.")
@click.option("--port", type=int, default=None, help="Host port for the hub (default 4444).")
@click.option("--host", default=None, help="Host address to publish the hub on (default 127.0.0.1).")
@click.option("--image", "image", multiple=True, help="Image override ROLE=IMAGE (hub, chrome, firefox, edge); repeatable.")
@click.option("--image-set", type=click.Choice(["auto", "official", "local"]), default=None, help="Which image set to use.")
@click.option("--timeout", type=float, default=None, help="Seconds to wait for every slot to register.")
@name_option
@docker_option
def up(
    browsers: str | None,
    nodes: str | None,
    max_sessions: int | None,
    capacity: str | None,
    mode: str | None,
    registry: str | None,
    port: int | None,
    host: str | None,
    image: tuple[str, ...],
    image_set: str | None,
    timeout: float | None,
    name: str | None,
    docker_host: str | None,
) -> int:
    """Start the hub and browser nodes (or reconcile them to the config) and wait until ready."""
    config = config_from(
        started=False,
        browsers=browsers,
        nodes=nodes,
        max_sessions=max_sessions,
        capacity=capacity,
        mode=mode,
        registry=registry,
        hub_port=port,
        hub_host=host,
        images=list(image) or None,
        image_set=image_set,
        startup_timeout=timeout,
        name=name,
        docker_host=docker_host,
    )
    config.browsers = config.farm_browsers()
    with reporting("farm up") as progress:
        result = farms.up(config, progress)
    farm_record.remember(config)
    for note in result.notes:
        stderr.print(f"note: {note}", markup=False)
    if result.changed:
        kind = "service(s)" if config.mode == "swarm" else "container(s)"
        summary = f"started {len(result.started)}, removed {len(result.removed)} {kind}"
        summary += "".join(f"; scaled {change} node(s)" for change in result.scaled)
    else:
        summary = "farm already matches the config; nothing changed"
    stdout.print(summary, markup=False)
    stdout.print(views.capacity_table(result.status))
    stdout.print(f"grid ready at {config.grid_url}", markup=False)
    return ExitCode.OK


@app.command()
@name_option
@docker_option
def down(name: str | None, docker_host: str | None) -> int:
    """Remove every container and network of the farm, including ones a crashed run left."""
    config = config_from(name=name, docker_host=docker_host)
    removed = farms.down(config)
    farm_record.forget(config.name)
    stdout.print(f"removed {len(removed)}: {', '.join(removed)}" if removed else "nothing to remove", markup=False)
    return ExitCode.OK


@app.command()
@click.option("--json", "as_json", is_flag=True, help="Print the documented JSON form.")
@grid_url_option
@name_option
def status(as_json: bool, grid_url: str | None, name: str | None) -> int:
    """Show whether the grid answers, its capacity per browser, and the farm's lost nodes."""
    status = farms.status(config_from(name=name), grid_url)
    if as_json:
        stdout.print_json(json.dumps(status.to_json()))
        return ExitCode.OK if status.grid is not None else ExitCode.INFRASTRUCTURE
    if status.error is not None:
        if status.nodes:
            stdout.print(views.nodes_table(status.nodes))
        raise status.error
    show(views.status_lines(status))
    return ExitCode.OK


@app.command()
@click.option("--browser", default="chrome", help="The browser to measure (one).")
@click.option("--up-to", type=click.IntRange(1, 16), default=4, help="Measure 1 to this many sessions at once.")
@click.option("--seconds", type=click.FloatRange(5, 600), default=30.0, help="Seconds of work per concurrency.")
@grid_url_option
@name_option
def calibrate(browser: str, up_to: int, seconds: float, grid_url: str | None, name: str | None) -> int:
    """Measure cells per minute against sessions at once, and print the best max_sessions."""
    config = config_from(name=name, browsers=browser)
    (chosen,) = config.browsers[:1]
    from farm.run import calibrate as calibrate_api  # selenium: not loaded by the commands that do not open sessions

    with reporting("farm calibrate") as progress:
        points = calibrate_api.curve(grid_url or config.grid_url, chosen, up_to, seconds, progress)
    show(views.curve_lines(chosen, points))
    return ExitCode.OK


@app.command("test", epilog="Arguments after `--` go to pytest unchanged, e.g. `farm test tests -- -o addopts= -m smoke`.")
@click.argument("paths", nargs=-1)
@browsers_option
@click.option("-k", "keyword", default=None, help="Only tests matching this pytest -k expression.")
@click.option("-m", "markexpr", default=None, help="Only tests matching this pytest -m expression.")
@grid_url_option
@click.option("--results-dir", default=None, help="Where results go (default: a new folder under reports/).")
@click.option("--reruns", type=int, default=0, help="Rerun failed cells up to N times (every attempt is kept).")
@click.option("--timeout", type=float, default=None, help="Per-test timeout in seconds (pytest-timeout).")
@click.option("--shard", default=None, help="Run only part I of N of the matrix, e.g. 2/4.")
@click.option("--base-url", default=None, help="Use this running application (the browsers' localhost is this machine's).")
@click.option("--app-dir", default=None, help="Serve this folder of static files as the application under test (config: app_dir).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="At most N cells at once, all browsers together (1: one cell at a time, for suites whose tests must not overlap).",
)
@click.option(
    "--browser-option",
    default=None,
    help="The suite's own browser option, set for every cell: --NAME or $VARIABLE, optionally =chrome:Chrome,firefox:Firefox "
    "(config: browser_option; dash's --webdriver needs nothing).",
)
@click.option("--demo", is_flag=True, help="Run farm's bundled demo suite (and serve its app) instead of PATH.")
@click.option("--no-report", is_flag=True, help="Do not generate the Allure report at the end.")
@click.option("--failed-first", is_flag=True, help="Run the cells that failed in the previous run first, then longest first.")
@click.option(
    "--video",
    type=click.Choice(VIDEO_MODES),
    default=None,
    help="Keep a video of failed and broken cells, of every cell, or none (config key `video`, default off).",
)
@click.option("--fail-on-console-error", is_flag=True, help="A cell whose page throws an uncaught JavaScript error fails.")
@click.option(
    "--isolation",
    type=click.Choice(ISOLATION_MODES),
    default=None,
    help="Farm's own driver: a kept session and a fresh user context per cell (context, the default, config key `isolation`), "
    "or a fresh session per cell (session).",
)
@name_option
@click.pass_obj
def test_command(
    obj: dict[str, Any] | None,
    paths: tuple[str, ...],
    browsers: str | None,
    keyword: str | None,
    markexpr: str | None,
    grid_url: str | None,
    results_dir: str | None,
    reruns: int,
    timeout: float | None,
    shard: str | None,
    base_url: str | None,
    app_dir: str | None,
    browser_option: str | None,
    workers: int | None,
    no_report: bool,
    failed_first: bool,
    video: str | None,
    fail_on_console_error: bool,
    isolation: str | None,
    demo: bool,
    name: str | None,
) -> int:
    """Run every selected test on every selected browser, longest expected first. With no PATH,
    pytest's own rules choose the tests (testpaths, else the current folder)."""
    if base_url and app_dir:
        raise click.UsageError("--base-url and --app-dir exclude each other")
    if demo and paths:
        raise click.UsageError("--demo runs farm's demo suite; give PATH or --demo, not both")
    from farm.run import report as report_api
    from farm.run.options import TestOptions
    from farm.run.runner import run_matrix

    config = config_from(browsers=browsers, name=name)
    flags = click.get_current_context().params
    options = TestOptions(**{key: flags[key] for key in TestOptions.FLAGS}, shard=parse_shard(shard) if shard else None)
    options.pytest_args = list((obj or {}).get("pytest_args", []))
    options.paths = list(paths)
    if demo:
        options.paths, options.app_dir = [str(resources.folder("demo"))], options.app_dir or str(resources.folder("demo") / "app")
    with reporting("farm test") as progress:
        outcome = run_matrix(config, options, progress)
    show(views.run_lines(outcome))
    if outcome.hurried:
        stderr.print(f"farm: no report after a second Ctrl-C; build it with `farm report {outcome.results_dir}`", markup=False)
    elif not no_report:
        try:
            started = time.monotonic()
            with reporting("farm report") as progress:
                report = report_api.build(
                    [outcome.results_dir], outcome.report_dir, Path(config.reports_dir), progress=progress, kind=config.report_generator
                )
            took = time.monotonic() - started  # apart from the run's own time: --no-report leaves it out
            stdout.print(
                f"report: {report / 'index.html'} in {took:.1f}s (serve it with `farm report {outcome.results_dir} --open`)", markup=False
            )
        except FarmError as exc:  # the run's verdict stands; say why there is no report
            stderr.print(f"farm: warning: no report: {exc}", markup=False, soft_wrap=True)
    return outcome.exit_code


@app.command("report")
@click.argument("results", nargs=-1)
@click.option("--output", default=None, help="Report folder (default: reports/report).")
@click.option("--trend", "--history", "trend", default=None, help="Carry Allure's trend from this folder (e.g. restored from a CI cache).")
@click.option("--single-file", is_flag=True, help="One self-contained HTML file that opens from file://.")
@click.option("--open", "open_report", is_flag=True, help="Serve the report on 127.0.0.1 and print its URL.")
@click.option(
    "--generator",
    type=click.Choice(REPORT_GENERATORS),
    default=None,
    help="allure2 (default; Java) or allure3 (Node alone, each browser an environment); config: report_generator.",
)
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 100),
    default=None,
    help="Quality gate: exit 1 when any browser's pass rate (percent of its judged cells) is below this.",
)
def report_command(
    results: tuple[str, ...],
    output: str | None,
    trend: str | None,
    single_file: bool,
    open_report: bool,
    generator: str | None,
    fail_under: float | None,
) -> int:
    """Generate one Allure report from result folders (default: the latest run)."""
    from farm.run import report as report_api
    from farm.run.learning import learn_from_summaries

    config = config_from(report_generator=generator)
    reports_dir = Path(config.reports_dir)
    folders = [Path(r) for r in results] or [report_api.latest_run(reports_dir)]
    target = Path(output) if output else ReportsFolder(reports_dir).report
    with reporting("farm report") as progress:
        report_api.build(folders, target, reports_dir, Path(trend) if trend else None, single_file, progress, config.report_generator)
    learn_from_summaries(folders, reports_dir)
    stdout.print(f"report: {target / 'index.html'} from {len(folders)} result folder(s)", markup=False)
    gate = report_api.quality_gate(folders, fail_under) if fail_under is not None else []
    if (target / report_api.MATRIX_PAGE).exists():
        stdout.print(f"matrix: {target / report_api.MATRIX_PAGE} (every test by browser, linked to its result)", markup=False)
    if gate:
        stderr.print(f"farm: quality gate: under {fail_under:g}% passed: {'; '.join(gate)}", markup=False, soft_wrap=True)
    if open_report:
        report_api.serve_until_interrupted(target, lambda line: stdout.print(line, markup=False))
    return ExitCode.TESTS_FAILED if gate else ExitCode.OK


@images.command("build")
@browsers_option
@click.option("--force", is_flag=True, help="Rebuild even when the content label matches.")
@click.option("--shared", is_flag=True, help="Also build the node serving chrome and firefox from one pool (capacity = shared).")
@docker_option
def images_build(browsers: str | None, force: bool, shared: bool, docker_host: str | None) -> int:
    """Build hub and node images offline from Debian packages (skips unchanged ones)."""
    config = config_from(browsers=browsers, docker_host=docker_host)
    chosen = buildable(config.browsers) if browsers is None else config.browsers  # by default, what can be built here
    with reporting("farm images build") as progress, Engine.connect(config.docker_host) as engine:
        results = images_api.build_images(engine, chosen, progress, force, shared=shared or config.capacity == "shared")
    for result in results:
        verdict = "up to date" if result.skipped else f"built in {result.seconds:.1f}s"
        stdout.print(f"{result.ref}: {verdict}", markup=False)
    return ExitCode.OK


# ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of exiting so tests can call it."""
    args = sys.argv[1:] if argv is None else argv
    passthrough: list[str] = []
    if "--" in args:
        args, passthrough = args[: args.index("--")], args[args.index("--") + 1 :]
    try:
        if passthrough and (not args or args[0] != "test"):
            raise click.UsageError("arguments after `--` are for `farm test` (they go to pytest)")
        code = app.main(args=args, prog_name="farm", standalone_mode=False, obj={"pytest_args": passthrough})
    except FarmError as exc:
        stderr.print(f"farm: error: {exc}", markup=False, soft_wrap=True)
        return int(exc.exit_code)
    except click.exceptions.Exit as exc:  # --help, --version
        return int(exc.exit_code)
    except click.ClickException as exc:
        stderr.print(f"farm: error: {exc.format_message()}", markup=False, soft_wrap=True)
        return ExitCode.USAGE
    except (KeyboardInterrupt, click.exceptions.Abort):
        stderr.print("farm: interrupted", markup=False)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug, or a failure nothing translated: one line, the traceback in a file
        log = write_crash_log(args)
        where = f"the traceback is in {log}" if log else "no log could be written"
        stderr.print(f"farm: error: unexpected {type(exc).__name__}: {first_line(exc)}; {where}", markup=False, soft_wrap=True)
        return ExitCode.INFRASTRUCTURE
    return int(code) if isinstance(code, int) else ExitCode.OK


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or ["(no message)"])[0]


def _log_folders() -> Iterator[Path]:
    with contextlib.suppress(OSError):
        yield images_api.cache_dir() / "logs"
    yield Path(tempfile.gettempdir())


def write_crash_log(args: list[str]) -> Path | None:
    """The traceback of the exception being handled, in farm's cache (else the temp folder)."""
    text = f"farm {' '.join(args)}\n\n{traceback.format_exc()}"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for folder in _log_folders():
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=f"farm-error-{stamp}-", suffix=".log", dir=folder)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            return Path(name)
    return None
