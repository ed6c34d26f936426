"""Entry points used by the CLI and the run: each connects to the configured engine, picks the farm
controller that runs there (containers on one engine, or services on a swarm) and does one thing.

`up` follows the config's `mode`; every other command follows what actually runs, so `farm down`
and `farm status` find a swarm farm whatever the current config says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from farm.core.config import FarmConfig
from farm.core.errors import FarmError, UsageError
from farm.core.progress import Progress
from farm.infra.engine import Engine
from farm.infra.engine_farm import Farm, NodeHealth, UpResult
from farm.infra.grid import GridClient, GridStatus
from farm.infra.swarm_farm import SwarmFarm, runs_here


def controller(config: FarmConfig, engine: Engine) -> Farm:
    """The controller of what runs on this engine (or is configured to): a swarm farm's, else a one-engine farm's."""
    swarm = config.mode == "swarm" or runs_here(engine, config.name)
    return SwarmFarm(config, engine) if swarm else Farm(config, engine)


def up(config: FarmConfig, progress: Progress) -> UpResult:
    with Engine.connect(config.docker_host) as engine:
        if config.mode == "swarm":
            return SwarmFarm(config, engine, progress).up()
        if runs_here(engine, config.name):
            raise UsageError(f"farm {config.name} runs on this engine's swarm; `farm down` it first, or keep mode = swarm")
        return Farm(config, engine, progress).up()


def down(config: FarmConfig) -> list[str]:
    with Engine.connect(config.docker_host) as engine:
        return controller(config, engine).down()


class FarmLink:
    """The farm a `farm test` runs on, over one engine connection for the whole command: opened on
    first use (a run on a grid given with --grid-url never opens it), closed with the command."""

    def __init__(self, config: FarmConfig) -> None:
        self.config = config
        self._engine: Engine | None = None
        self._farm: Farm | None = None

    def _controller(self) -> Farm:
        if self._farm is None:
            self._engine = Engine.connect(self.config.docker_host)
            self._farm = controller(self.config, self._engine)
        return self._farm

    def gateway(self) -> str:
        """The farm network's gateway: where the browsers reach this machine."""
        return self._controller().gateway()

    def registration_secret(self) -> str:
        return self._controller().hub_secret()

    def node_containers(self) -> dict[str, str]:
        """Node URI -> container id on the farm's engine, for recording sessions on their node."""
        return self._controller().node_containers()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self._engine = self._farm = None

    def __enter__(self) -> FarmLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def node_health(config: FarmConfig, grid: GridStatus | None) -> list[NodeHealth] | None:
    """The farm's nodes, or None when its engine does not answer (the Grid may live elsewhere)."""
    try:
        engine = Engine.connect(config.docker_host, timeout=10)
    except FarmError:
        return None
    with engine:
        return controller(config, engine).node_health(grid)


@dataclass
class FarmStatus:
    """What `farm status` knows: the Grid's answer (or why there is none) and the farm's own nodes."""

    grid_url: str
    grid: GridStatus | None
    error: FarmError | None
    nodes: list[NodeHealth] | None  # None for a grid the farm did not start, or an engine that does not answer

    def lost(self) -> list[str]:
        return [n.name for n in self.nodes or [] if n.lost]

    def to_json(self) -> dict[str, Any]:
        """The documented `farm status --json` shape."""
        if self.grid is not None:
            data = self.grid.to_json()
        else:
            data = {"grid_url": self.grid_url, "ready": False, "version": "", "browsers": {}, "queue": 0, "error": str(self.error)}
        if self.nodes is not None:
            data["nodes"] = [{**asdict(n), "lost": n.lost} for n in self.nodes]
            data["lost"] = self.lost()
        return data


def status(config: FarmConfig, grid_url: str | None) -> FarmStatus:
    """The Grid's state, and the farm's own containers unless the grid is someone else's (--grid-url)."""
    client = GridClient(grid_url or config.grid_url)
    grid: GridStatus | None = None
    error: FarmError | None = None
    try:
        grid = client.status()
    except FarmError as exc:
        error = exc
    return FarmStatus(client.url, grid, error, None if grid_url else node_health(config, grid))
