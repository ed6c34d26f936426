"""The farm controller: a Grid hub and browser nodes as labelled containers on one Docker engine.

`up` reconciles the engine to the config (idempotent: only the difference is started or removed)
and returns once every requested slot is registered on the hub; whatever `up` started is rolled
back if it fails or is interrupted. `down` removes everything carrying this farm's labels.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import socket
from dataclasses import dataclass, field

from farm.core import labels
from farm.core.capacity import GIB, machine_sessions
from farm.core.catalogue import APP_HOST_ALIAS, HUB_ALIAS, SHARED_BROWSERS, SHARED_KEY
from farm.core.config import FarmConfig
from farm.core.errors import EngineError, GridError, NodeStartupError, PortInUseError
from farm.core.progress import Progress
from farm.infra.engine import ContainerSpec, Engine, FarmContainer
from farm.infra.grid import GridClient, GridStatus
from farm.infra.images import ImageChoice, choose_images

EVENT_BUS_PORTS = {"SE_EVENT_BUS_PUBLISH_PORT": "4442", "SE_EVENT_BUS_SUBSCRIBE_PORT": "4443"}
# Offline resolvers: fail a lookup of an outside name in about a second instead of 20 s, while
# Docker's embedded DNS still answers the farm's own names (see docs/offline.md).
OFFLINE_DNS_OPTIONS = ["timeout:1", "attempts:1"]


@dataclass
class NodeHealth:
    """One node as the engine and the Grid see it; `lost` when either says it cannot serve."""

    name: str
    browser: str
    container: str  # "running", or e.g. "exited (137)" after a docker kill
    grid: str  # the Grid's availability (UP, DOWN, DRAINING) or "not registered"
    host: str = ""  # on a swarm: the host that runs it

    @property
    def lost(self) -> bool:
        return self.container != "running" or self.grid != "UP"


@dataclass
class UpResult:
    status: GridStatus
    started: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scaled: list[str] = field(default_factory=list)  # on a swarm: "service: 2 -> 1"

    @property
    def changed(self) -> bool:
        return bool(self.started or self.removed or self.scaled)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class Farm:
    """One named farm on one engine."""

    def __init__(self, config: FarmConfig, engine: Engine, progress: Progress = lambda _msg: None) -> None:
        self.config = config
        self.engine = engine
        self.progress = progress

    # names -------------------------------------------------------------------------------------
    @property
    def network_name(self) -> str:
        return f"{self.config.name}-grid"

    @property
    def hub_name(self) -> str:
        return f"{self.config.name}-hub"

    def node_name(self, group: str, index: int) -> str:
        return f"{self.config.name}-node-{group}-{index}"

    # reading state -----------------------------------------------------------------------------
    def node_uri(self, container: FarmContainer) -> str:
        """The URI a node registers with on the hub (its address on the farm network)."""
        return f"http://{container.ips.get(self.network_name, '')}:5555"

    def containers(self, role: str | None = None, browser: str | None = None) -> list[FarmContainer]:
        extra = {k: v for k, v in (("role", role), ("browser", browser)) if v}
        return self.engine.farm_containers(labels.selector(self.config.name, **extra))

    def grid(self) -> GridClient:
        return GridClient(self.config.grid_url)

    @staticmethod
    def registration_secret(hub: FarmContainer) -> str:
        return hub.env.get("SE_REGISTRATION_SECRET", "")

    def hub_secret(self) -> str:
        """The running hub's registration secret ('' without a hub of this farm on this engine)."""
        hubs = self.containers(role="hub")
        return self.registration_secret(hubs[0]) if hubs else ""

    # up ----------------------------------------------------------------------------------------
    def up(self) -> UpResult:
        """Start or reconcile the farm; on any failure or Ctrl-C, remove what this call started."""
        if not self.config.max_sessions:
            cpus, memory = self.engine.machine()
            sessions = machine_sessions(cpus, memory, sum(self.config.node_groups().values()))
            self.progress(f"{sessions} session(s) per node, from the engine's {cpus} CPU(s) and {memory / GIB:.0f} GiB")
            self.config = dataclasses.replace(self.config, max_sessions=sessions)
        config = self.config
        choice = choose_images(config, config.browsers, self.engine.has_image, self._pull)
        if not self._hub_reusable(choice):
            self._check_port()
        started: list[FarmContainer] = []
        created_network = None
        result = UpResult(status=GridStatus(config.grid_url, False, "", 0), notes=list(choice.notes))
        try:
            network = self.engine.find_network(self.network_name)
            if network is None:
                network = created_network = self.engine.create_network(self.network_name, labels.create_labels(config.name, "network"))
            gateway = network.gateway
            hub = self._ensure_hub(choice, started)
            secret = self.registration_secret(hub)
            result.removed = self._reconcile_nodes(choice, secret, gateway, started)
            result.started = [c.name for c in started]
            self.progress("waiting for nodes to register")
            result.status = self._wait_ready()
        except BaseException:
            self.progress("rolling back")
            self.engine.remove_containers(started)
            if created_network is not None:
                self.engine.remove_containers(self.containers())
                self.engine.remove_networks([created_network])
            raise
        return result

    def _pull(self, ref: str) -> bool:
        self.progress(f"pulling {ref}")
        return self.engine.pull(ref, self.progress)

    def _hub_reusable(self, choice: ImageChoice) -> FarmContainer | None:
        existing = self.containers(role="hub")
        if existing and existing[0].status == "running" and existing[0].image_id == self.engine.image_id(choice.hub):
            return existing[0]
        return None

    def _check_port(self) -> None:
        config = self.config
        if not port_is_free(config.hub_host, config.hub_port):
            raise PortInUseError(f"port {config.hub_port} on {config.hub_host} is already in use; free it or set --port / hub_port")

    def _ensure_hub(self, choice: ImageChoice, started: list[FarmContainer]) -> FarmContainer:
        reusable = self._hub_reusable(choice)
        if reusable is not None:
            return reusable
        self.engine.remove_containers(self.containers(role="hub"))
        config = self.config
        self.progress(f"starting hub {self.hub_name} ({choice.hub})")
        spec = ContainerSpec(
            name=self.hub_name,
            image=choice.hub,
            labels=labels.create_labels(config.name, "hub"),
            network=self.network_name,
            aliases=[HUB_ALIAS],
            environment={"SE_REGISTRATION_SECRET": secrets.token_urlsafe(24), "SE_SESSION_REQUEST_TIMEOUT": str(config.session_timeout)},
            ports={"4444/tcp": (config.hub_host, config.hub_port)},
            dns_options=OFFLINE_DNS_OPTIONS if config.offline else None,
        )
        hub = self.engine.run(spec)
        started.append(hub)
        return hub

    def _node_spec(self, group: str, index: int, image: str, secret: str, gateway: str) -> ContainerSpec:
        """A node of `group`: one browser, or `shared` (chrome and firefox from one pool)."""
        config = self.config
        return ContainerSpec(
            name=self.node_name(group, index),
            image=image,
            labels=labels.create_labels(config.name, "node", browser=group, slots=str(config.max_sessions), index=str(index)),
            network=self.network_name,
            environment={
                "SE_EVENT_BUS_HOST": HUB_ALIAS,
                **EVENT_BUS_PORTS,
                "SE_NODE_MAX_SESSIONS": str(config.max_sessions),
                "SE_NODE_OVERRIDE_MAX_SESSIONS": "true",
                "SE_NODE_SESSION_TIMEOUT": str(config.session_timeout),
                "SE_REGISTRATION_SECRET": secret,
            },
            shm_size="2g",
            dns_options=OFFLINE_DNS_OPTIONS if config.offline else None,
            extra_hosts={APP_HOST_ALIAS: gateway},
        )

    def _reconcile_nodes(self, choice: ImageChoice, secret: str, gateway: str, started: list[FarmContainer]) -> list[str]:
        """Add or remove nodes so each group (a browser, or the shared nodes) has its configured
        count; returns removed names."""
        removed: list[FarmContainer] = []
        groups = self.config.node_groups()
        images = {group: self.engine.image_id(ref) for group, ref in choice.nodes.items()}
        for container in self.containers(role="node"):
            group = container.labels.get(labels.BROWSER, "")
            stale = (
                group not in groups
                or container.status != "running"
                or container.env.get("SE_REGISTRATION_SECRET") != secret  # its hub was replaced
                or container.labels.get(labels.SLOTS) != str(self.config.max_sessions)
                or container.image_id != images[group]  # another image, or its tag was rebuilt
            )
            if stale:
                removed.append(container)
        self._remove_nodes(removed)
        for group, wanted in groups.items():
            current = sorted(self.containers(role="node", browser=group), key=lambda c: int(c.labels.get(f"{labels.PREFIX}.index", "0")))
            if len(current) > wanted:
                extra = current[wanted:]
                self._remove_nodes(extra)
                removed.extend(extra)
            used = {int(c.labels.get(f"{labels.PREFIX}.index", "0")) for c in current[:wanted]}
            free_indices = (i for i in range(1, 1000) if i not in used)
            for _ in range(wanted - min(len(current), wanted)):
                index = next(free_indices)
                self.progress(f"starting {group} node {self.node_name(group, index)} ({choice.nodes[group]})")
                started.append(self.engine.run(self._node_spec(group, index, choice.nodes[group], secret, gateway)))
        return [c.name for c in removed]

    def _remove_nodes(self, nodes: list[FarmContainer]) -> None:
        """Remove node containers and tell the hub at once, instead of waiting for its health check."""
        if not nodes:
            return
        uris = {self.node_uri(c) for c in nodes if self.network_name in c.ips}
        hubs = self.containers(role="hub")
        self.progress("removing " + ", ".join(c.name for c in nodes))
        self.engine.remove_containers(nodes)
        if hubs and uris:
            with contextlib.suppress(GridError):
                client = self.grid()
                for node in client.status().nodes:
                    if node.uri in uris:
                        client.remove_node(node.id, self.registration_secret(hubs[0]))

    def expected_slots(self) -> dict[str, int]:
        """Slots per browser once every node registered (a shared node offers each of its browsers
        max_sessions slots, of which it runs max_sessions at once)."""
        groups = self.config.node_groups()
        if SHARED_KEY in groups:
            return {b: groups[SHARED_KEY] * self.config.max_sessions for b in SHARED_BROWSERS if groups[SHARED_KEY]}
        return {b: n * self.config.max_sessions for b, n in groups.items() if n}

    def _wait_ready(self) -> GridStatus:
        expected = self.expected_slots()

        def report(status: GridStatus | None) -> None:
            if status is None:
                self.progress("waiting for the hub to answer")
                return
            have = status.slots()
            self.progress("registered: " + ", ".join(f"{b} {have.get(b, 0)}/{n} slots" for b, n in expected.items()))

        try:
            return self.grid().wait_for(expected, self.config.startup_timeout, report, counted=self._counted)
        except GridError as exc:
            raise self._startup_failure(exc) from None

    def _counted(self, status: GridStatus) -> GridStatus:
        """The part of the Grid's answer that makes this farm ready: all of it, for containers this
        engine runs (a removed container's node is removed from the hub with it)."""
        return status

    def _startup_failure(self, exc: GridError) -> GridError:
        """Name the first node that never registered (or the hub), with the tail of its log."""
        try:
            registered = {node.uri for node in self.grid().status().nodes}
        except GridError:
            hub = self.containers(role="hub")
            tail = self.engine.logs_tail(hub[0]) if hub else ""
            return NodeStartupError(f"hub {self.hub_name} never answered on {self.config.grid_url}: {exc}", tail)
        for container in self.containers(role="node"):
            if self.node_uri(container) not in registered:
                tail = self.engine.logs_tail(container)
                last = tail.splitlines()[-1] if tail else "no log output"
                return NodeStartupError(f"node {container.name} never registered with the hub ({exc}); last log line: {last}", tail)
        return exc

    # down / status -----------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Remove every container and network with this farm's labels, from any earlier run."""
        removed = self.engine.remove_containers(self.containers())
        removed += self.engine.remove_networks(self.engine.farm_networks(labels.selector(self.config.name)))
        return removed

    def gateway(self) -> str:
        """The farm network's gateway: the host address its containers reach as `farm-host`."""
        network = self.engine.find_network(self.network_name)
        if network is None:
            raise GridError(f"the farm network {self.network_name} is missing; run `farm up`")
        if not network.gateway:
            raise EngineError(f"network {network.name} has no gateway address; remove it with `farm down`")
        return network.gateway

    def node_containers(self) -> dict[str, str]:
        """Node URI (as the Grid reports it) -> container id, for recording sessions on their node."""
        return {self.node_uri(c): c.id for c in self.containers("node") if c.status == "running"}

    def node_health(self, grid: GridStatus | None) -> list[NodeHealth]:
        """Every node container of this farm, with what the Grid says of it (None: no answer)."""
        availability = {node.uri: node.availability for node in grid.nodes} if grid else {}
        health = []
        for container in sorted(self.containers(role="node"), key=lambda c: c.name):
            uri = self.node_uri(container) if container.status == "running" else None
            seen = availability.get(uri or "", "not registered") if grid else "no answer"
            health.append(NodeHealth(container.name, container.labels.get(labels.BROWSER, ""), container.state, seen))
        return health
