"""The `farm` command: parse flags, call one library function, print its result.

Every failure is a FarmError with a one-line message and an exit code (farm.errors.ExitCode);
`main(argv)` returns that code so tests can call the CLI directly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from farm import farm as farm_api
from farm import images as images_api
from farm.config import FarmConfig, load_config, parse_browsers, parse_counts, parse_images
from farm.engine import Engine
from farm.errors import ExitCode, FarmError
from farm.grid import GridClient, GridStatus
from farm.progress import reporting, stderr

stdout = Console(highlight=False)

name_option = click.option("--name", default=None, help="Farm name (labels and container names).")
docker_option = click.option("--docker-host", default=None, help="Docker engine URL (default: DOCKER_HOST or the local socket).")
browsers_option = click.option("--browsers", "-b", default=None, help="Comma-separated browsers: chrome,firefox,edge.")
grid_url_option = click.option("--grid-url", default=None, help="Use this existing Selenium Grid 4 instead of the farm's own.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="farm")
def app() -> None:
    """Run pytest + Selenium suites on every browser through a Selenium Grid on Docker."""


@app.group()
def images() -> None:
    """Images for the hub and browser nodes."""


def config_from(**flags: Any) -> FarmConfig:
    """The config file plus flags; string flags are parsed here so their errors name the flag."""
    if flags.get("browsers") is not None:
        flags["browsers"] = parse_browsers(flags["browsers"])
    if flags.get("nodes") is not None:
        flags["nodes"] = parse_counts(flags["nodes"])
    if flags.get("images") is not None:
        flags["images"] = parse_images(",".join(flags["images"])) if flags["images"] else None
    config = load_config(Path.cwd(), **flags)
    if config.nodes:  # browsers named only in --nodes are selected too
        config.browsers = tuple(dict.fromkeys((*config.browsers, *(b for b, n in config.nodes.items() if n))))
    return config


# ------------------------------------------------------------------------------------------------
# rendering


def capacity_table(status: GridStatus) -> Table:
    table = Table(title=f"Grid {status.version or '?'} at {status.url}", title_justify="left")
    for column in ("browser", "version", "nodes", "slots", "busy"):
        table.add_column(column, justify="left" if column in ("browser", "version") else "right")
    for name, cap in sorted(status.capacity().items()):
        table.add_row(name, cap.version or "?", str(cap.nodes), str(cap.slots), str(cap.busy))
    return table


# ------------------------------------------------------------------------------------------------
# commands


@app.command()
@browsers_option
@click.option("--nodes", default=None, help="Nodes per browser, e.g. chrome=2,firefox=1.")
@click.option("--max-sessions", type=int, default=None, help="Session slots per node.")
@click.option("--port", type=int, default=None, help="Host port for the hub (default 4444).")
@click.option("--host", default=None, help="Host address to publish the hub on (default 127.0.0.1).")
@click.option("--image", "image", multiple=True, help="Image override ROLE=IMAGE (hub, chrome, firefox, edge); repeatable.")
@click.option("--image-set", type=click.Choice(["auto", "official", "local"]), default=None, help="Which image set to use.")
@click.option("--timeout", type=float, default=None, help="Seconds to wait for every slot to register.")
@name_option
@docker_option
def up(
    browsers: str | None, nodes: str | None, max_sessions: int | None, port: int | None, host: str | None,
    image: tuple[str, ...], image_set: str | None, timeout: float | None, name: str | None, docker_host: str | None,
) -> int:
    """Start the hub and browser nodes (or reconcile them to the config) and wait until ready."""
    config = config_from(
        browsers=browsers, nodes=nodes, max_sessions=max_sessions, hub_port=port, hub_host=host,
        images=list(image) or None, image_set=image_set, startup_timeout=timeout, name=name, docker_host=docker_host,
    )
    with reporting("farm up") as progress:
        result = farm_api.up(config, progress)
    for note in result.notes:
        stderr.print(f"note: {note}", markup=False)
    if result.changed:
        summary = f"started {len(result.started)}, removed {len(result.removed)} container(s)"
    else:
        summary = "farm already matches the config; nothing changed"
    stdout.print(summary, markup=False)
    stdout.print(capacity_table(result.status))
    stdout.print(f"grid ready at {config.grid_url}", markup=False)
    return ExitCode.OK


@app.command()
@name_option
@docker_option
def down(name: str | None, docker_host: str | None) -> int:
    """Remove every container and network of the farm, including ones a crashed run left."""
    removed = farm_api.down(config_from(name=name, docker_host=docker_host))
    stdout.print(f"removed {len(removed)}: {', '.join(removed)}" if removed else "nothing to remove", markup=False)
    return ExitCode.OK


@app.command()
@click.option("--json", "as_json", is_flag=True, help="Print the documented JSON form.")
@grid_url_option
@name_option
def status(as_json: bool, grid_url: str | None, name: str | None) -> int:
    """Show whether the grid answers and its capacity per browser."""
    config = config_from(name=name)
    client = GridClient(grid_url or config.grid_url)
    try:
        grid = client.status()
    except FarmError as exc:
        if as_json:
            stdout.print_json(json.dumps({"grid_url": client.url, "ready": False, "version": "", "browsers": {}, "queue": 0, "error": str(exc)}))
            return ExitCode.INFRASTRUCTURE
        raise
    if as_json:
        stdout.print_json(json.dumps(grid.to_json()))
    else:
        stdout.print(capacity_table(grid))
        stdout.print(f"ready: {'yes' if grid.ready else 'no'}, queued session requests: {grid.queue}", markup=False)
    return ExitCode.OK


@images.command("build")
@browsers_option
@click.option("--force", is_flag=True, help="Rebuild even when the content label matches.")
@docker_option
def images_build(browsers: str | None, force: bool, docker_host: str | None) -> int:
    """Build hub and node images offline from Debian packages (skips unchanged ones)."""
    config = config_from(browsers=browsers, docker_host=docker_host)
    buildable = tuple(b for b in config.browsers if b != "edge") if browsers is None else config.browsers
    with reporting("farm images build") as progress:
        results = images_api.build_images(Engine.connect(config.docker_host), buildable, progress, force)
    for result in results:
        verdict = "up to date" if result.skipped else f"built in {result.seconds:.1f}s"
        stdout.print(f"{result.ref}: {verdict}", markup=False)
    return ExitCode.OK


# ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of exiting so tests can call it."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app.main(args=args, prog_name="farm", standalone_mode=False)
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
    return int(code) if isinstance(code, int) else ExitCode.OK
