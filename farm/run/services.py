"""What a run needs around pytest: where the browsers find the application under test, how their
localhost reaches this machine, and the nodes that record videos."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from farm.core.catalogue import APP_HOST_ALIAS
from farm.core.config import FarmConfig
from farm.core.errors import UsageError
from farm.infra.appserver import serve
from farm.infra.farms import FarmLink
from farm.run.loopback_proxy import loopback_proxy
from farm.run.options import TestOptions


@dataclass
class Application:
    """Where the browsers find the application under test, and how their localhost reaches this machine."""

    base_url: str
    routing: list[str]  # plugin options: the loopback proxy and FARM_APP_HOST


@contextlib.contextmanager
def application(options: TestOptions, farm: FarmLink | None) -> Iterator[Application]:
    """The base URL (serving --app-dir if given) and, on the farm's own grid, the
    loopback proxy that takes the browsers' localhost to this machine, for the length of the run.
    `farm`: the farm's own grid (None: a grid given with --grid-url)."""
    with contextlib.ExitStack() as stack:
        routing: list[str] = []
        gateway = farm.gateway() if farm is not None else None
        if gateway:
            port = stack.enter_context(loopback_proxy(gateway))
            routing = ["--farm-localhost-proxy", f"{APP_HOST_ALIAS}:{port}", "--farm-app-host", gateway]
        yield Application(_base_url(options, gateway, stack), routing)


def _base_url(options: TestOptions, gateway: str | None, stack: contextlib.ExitStack) -> str:
    """--base-url as given (localhost reaches this machine through the proxy), else the folder that
    --app-dir (or the config's app_dir) names, served on the farm network's gateway (on 127.0.0.1
    for a grid given with --grid-url). Nothing is served unless asked: a project's folder called
    app/ may well be its source code."""
    if options.base_url:
        return options.base_url
    if not options.app_dir:
        return ""
    app_dir = Path(options.app_dir)
    if not app_dir.is_dir():
        raise UsageError(f"--app-dir {app_dir} is not a folder")
    host, alias = (gateway, APP_HOST_ALIAS) if gateway else ("127.0.0.1", "127.0.0.1")
    port = stack.enter_context(serve(app_dir, host))
    return f"http://{alias}:{port}/"


def video_options(config: FarmConfig, options: TestOptions, farm: FarmLink | None) -> list[str]:
    """--video: the farm's nodes record their sessions; the workers reach them through the engine."""
    mode = options.video or config.video
    if mode == "off":
        return []
    if farm is None:
        raise UsageError(f"--video {mode} records on the farm's own nodes; a grid given with --grid-url records with its own tools")
    recorder = {"docker_host": config.docker_host, "nodes": farm.node_containers()}
    return ["--farm-video", mode, "--farm-recorder", json.dumps(recorder)]
