"""The farm on Docker Swarm: the hub and one service per browser whose replicas are the nodes.

Reached through one manager's engine, like a one-engine farm through its engine. What differs:
- images go to a registry every host pulls from, pinned by digest (`registry`);
- the registration secret is a Docker secret, mounted as a file: never in a service's spec or
  environment, so `docker service inspect` does not show it;
- the hub is published in host mode on the manager only (not on every host through the routing
  mesh), and services resolve by DNS to their tasks (`dnsrr`: no virtual IP, which needs IPVS);
- a node registers under its task's name, which the overlay network resolves on every host;
- `up` again scales a service whose spec still matches, and replaces one whose spec changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import secrets
import socket
from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from farm.core import labels
from farm.core.capacity import GIB, machine_sessions
from farm.core.catalogue import APP_HOST_ALIAS, HUB_ALIAS
from farm.core.config import FarmConfig
from farm.core.errors import EngineError, FarmError, GridError, NodeStartupError, PortInUseError, UsageError
from farm.core.progress import Progress
from farm.infra.engine import Engine
from farm.infra.engine_farm import EVENT_BUS_PORTS, Farm, NodeHealth, UpResult
from farm.infra.grid import GridStatus
from farm.infra.images import choose_images
from farm.infra.swarm_engine import SECRETS_DIR, FarmService, FarmTask, ServiceSpec, SwarmEngine, SwarmHost

SECRET_FILE = "farm-registration-secret"
SWARM_TASK_LABEL = "com.docker.swarm.task.id"  # on the containers the swarm runs for a service
SWARM_SERVICE_LABEL = "com.docker.swarm.service.id"
T = TypeVar("T")


def address_towards(host: str) -> str:
    """This machine's own address on the route to `host`: where the swarm's browsers reach the
    runner (its loopback proxy and the suite's app). No packet is sent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((host, 9))
        return str(probe.getsockname()[0])


def node_uri(task_name: str) -> str:
    """Where a node task registers: its container name is its hostname on the overlay."""
    return f"http://{task_name}:5555"


def poll(condition: Callable[[], T | None], seconds: float) -> T | None:
    """`condition()` every second until it gives something; None when `seconds` pass first."""
    retrying = Retrying(
        retry=retry_if_result(lambda value: value is None),
        stop=stop_after_delay(seconds),
        wait=wait_fixed(1),
        retry_error_callback=lambda _state: None,
    )
    return retrying(condition)


class SwarmFarm(Farm):
    """One named farm on a swarm, through its manager's engine."""

    def __init__(self, config: FarmConfig, engine: Engine, progress: Progress = lambda _msg: None) -> None:
        super().__init__(config, engine, progress)
        self.swarm = SwarmEngine(engine)

    @property
    def secret_name(self) -> str:
        return f"{self.config.name}-registration"

    def service_name(self, group: str) -> str:
        return f"{self.config.name}-node-{group}"

    def services(self, role: str | None = None) -> list[FarmService]:
        extra = {"role": role} if role else {}
        return self.swarm.services(labels.selector(self.config.name, **extra))

    def runner_address(self, hosts: list[SwarmHost], manager_id: str) -> str:
        manager = next(h for h in hosts if h.id == manager_id)
        return address_towards(manager.address)

    # up ----------------------------------------------------------------------------------------
    def up(self) -> UpResult:
        """Create or reconcile the services; on failure or Ctrl-C, remove what this call created."""
        manager_id = self.swarm.manager_id()
        hosts = [h for h in self.swarm.hosts() if h.state == "ready"]
        if [c for c in self.containers() if SWARM_TASK_LABEL not in c.labels]:
            raise UsageError(f"farm {self.config.name} runs as containers on this engine; `farm down` it before mode = swarm")
        self._sessions_from(hosts)
        config = self.config
        choice = choose_images(config, config.browsers, self.engine.has_image, self._pull)
        images = self._publish([choice.hub, *choice.nodes.values()], len(hosts))
        created: list[FarmService] = []
        created_secret = created_network = False
        result = UpResult(status=GridStatus(config.grid_url, False, "", 0), notes=list(choice.notes))
        try:
            _, created_network = self.swarm.ensure_overlay(self.network_name, labels.create_labels(config.name, "network"))
            secret_id = self.swarm.find_secret(self.secret_name)
            if secret_id is None:
                value = secrets.token_urlsafe(24)
                secret_id = self.swarm.create_secret(self.secret_name, value, labels.create_labels(config.name, "secret"))
                created_secret = True
            secret = (secret_id, self.secret_name, SECRET_FILE)
            hub_replaced = self._ensure_hub_service(images[choice.hub], secret, manager_id, created)
            runner = self.runner_address(hosts, manager_id)
            result.removed = self._reconcile_node_services(
                {g: images[ref] for g, ref in choice.nodes.items()}, secret, runner, hub_replaced, created, result.scaled
            )
            result.started = [s.name for s in created]
            self.progress("waiting for nodes to register")
            result.status = self._wait_ready()
        except BaseException:
            self.progress("rolling back")
            self._remove_services(created)
            if created_network:
                self._remove_services(self.services())
                self.swarm.remove_overlays(labels.selector(config.name))
            if created_secret:
                self.swarm.remove_secrets(labels.selector(config.name))
            raise
        return result

    def _sessions_from(self, hosts: list[SwarmHost]) -> None:
        """Automatic sessions per node: from the smallest host, with the nodes spread over all."""
        if self.config.max_sessions:
            return
        smallest = min(hosts, key=lambda h: (h.cpus, h.memory))
        per_host = math.ceil(sum(self.config.node_groups().values()) / len(hosts))
        sessions = machine_sessions(smallest.cpus, smallest.memory, per_host)
        self.progress(f"{sessions} session(s) per node, from the smallest host: {smallest.cpus} CPU(s), {smallest.memory / GIB:.0f} GiB")
        self.config = dataclasses.replace(self.config, max_sessions=sessions)

    def _publish(self, refs: list[str], hosts: int) -> dict[str, str]:
        """Each image as the swarm's hosts will pull it: pushed to the registry, pinned by digest."""
        if not self.config.registry:
            if hosts > 1:
                raise UsageError(
                    f"the swarm has {hosts} hosts and each must pull the farm's images: set --registry HOST:PORT "
                    "(a registry every host reaches; see docs/beyond-one-machine.md)"
                )
            return {ref: ref for ref in refs}
        published = {}
        for ref in dict.fromkeys(refs):
            self.progress(f"pushing {ref} to {self.config.registry}")
            published[ref] = self.swarm.push(ref, self.config.registry, self.progress)
        return published

    def _ensure_hub_service(self, image: str, secret: tuple[str, str, str], manager_id: str, created: list[FarmService]) -> bool:
        """The hub service, replaced when its image or secret changed; True when (re)created."""
        existing = self.services(role="hub")
        if existing and existing[0].image == image and secret[0] in existing[0].secrets:
            return False
        self._remove_services(existing)
        config = self.config
        self.progress(f"starting hub service {self.hub_name} ({image})")
        spec = ServiceSpec(
            name=self.hub_name,
            image=image,
            labels=labels.create_labels(config.name, "hub"),
            network=self.network_name,
            aliases=[HUB_ALIAS],
            environment={
                "SE_REGISTRATION_SECRET_FILE": f"{SECRETS_DIR}/{SECRET_FILE}",
                "SE_SESSION_REQUEST_TIMEOUT": str(config.session_timeout),
            },
            secret=secret,
            host_port=(config.hub_port, 4444),
            constraints=[f"node.id=={manager_id}"],
        )
        created.append(self.swarm.create_service(spec))
        return True

    def _node_service_spec(self, group: str, image: str, secret: tuple[str, str, str], runner: str) -> ServiceSpec:
        config = self.config
        return ServiceSpec(
            name=self.service_name(group),
            image=image,
            labels=labels.create_labels(config.name, "node", browser=group, slots=str(config.max_sessions)),
            network=self.network_name,
            replicas=config.node_groups()[group],
            environment={
                "SE_EVENT_BUS_HOST": HUB_ALIAS,
                **EVENT_BUS_PORTS,
                "SE_NODE_HOST": "{{.Task.Name}}",  # resolvable on the overlay from every host
                "SE_NODE_MAX_SESSIONS": str(config.max_sessions),
                "SE_NODE_OVERRIDE_MAX_SESSIONS": "true",
                "SE_NODE_SESSION_TIMEOUT": str(config.session_timeout),
                "SE_REGISTRATION_SECRET_FILE": f"{SECRETS_DIR}/{SECRET_FILE}",
            },
            secret=secret,
            hostname="{{.Task.Name}}",
            hosts={APP_HOST_ALIAS: runner},
            shm_bytes=2 * GIB,
        )

    def _reconcile_node_services(
        self,
        images: dict[str, str],
        secret: tuple[str, str, str],
        runner: str,
        hub_replaced: bool,
        created: list[FarmService],
        scaled: list[str],
    ) -> list[str]:
        """Scale each browser's service to its count; replace one whose image, sessions or hub
        changed; remove services of groups no longer configured. Returns removed names."""
        groups = self.config.node_groups()
        removed: list[FarmService] = []
        for service in self.services(role="node"):
            group = service.labels.get(labels.BROWSER, "")
            stale = (
                hub_replaced
                or group not in groups
                or service.image != images.get(group)
                or service.labels.get(labels.SLOTS) != str(self.config.max_sessions)
                or secret[0] not in service.secrets
            )
            if stale:
                removed.append(service)
        self._remove_services(removed)
        current = {s.labels.get(labels.BROWSER, ""): s for s in self.services(role="node")}
        for group, wanted in groups.items():
            if group in current:
                if current[group].replicas != wanted:
                    self._scale(current[group], wanted)
                    scaled.append(f"{current[group].name}: {current[group].replicas} -> {wanted}")
                continue
            self.progress(f"starting {wanted} {group} node(s) as service {self.service_name(group)} ({images[group]})")
            created.append(self.swarm.create_service(self._node_service_spec(group, images[group], secret, runner)))
        return [s.name for s in removed]

    def _scale(self, service: FarmService, wanted: int) -> None:
        """Scale a node service; nodes it stops are removed from the hub at once, not after its
        health check, so the Grid's capacity is right when `up` returns."""
        self.progress(f"scaling {service.name} from {service.replicas} to {wanted} node(s)")
        before = {t.name for t in self._current_tasks(service)}
        self.swarm.scale(service, wanted)
        if wanted >= service.replicas:
            return

        def stopped() -> set[str] | None:
            """The names of the tasks scaled away, once their containers have stopped: a node still
            running when the hub forgets it comes back with its next heartbeat, and then counts as
            a slot until the hub's health check finds its container gone."""
            tasks = self.swarm.tasks(service)
            gone = before - {t.name for t in tasks if t.desired == "running"}
            if len(before) - len(gone) > wanted or any(t.name in gone and t.state == "running" for t in tasks):
                return None
            return gone

        gone = poll(stopped, 60)
        if gone is None:
            return  # not stopped yet: the hub's health check removes them later
        with contextlib.suppress(GridError, EngineError):
            self._forget_nodes({node_uri(name) for name in gone})

    def _hub_secret(self) -> str:
        """The registration secret, read where it lives: the hub's task on this manager."""
        for service in self.services(role="hub"):
            for task in self._current_tasks(service):
                if task.state == "running" and task.container_id:
                    code, value = self.engine.exec(task.container_id, ["cat", f"{SECRETS_DIR}/{SECRET_FILE}"])
                    if code == 0:
                        return value
        raise EngineError(f"the hub of farm {self.config.name} is not running on this manager")

    def _wait_ready(self) -> GridStatus:
        self._wait_for_hub_task()
        status = super()._wait_ready()
        with contextlib.suppress(GridError, EngineError):
            self._forget_nodes({node.uri for node in self.grid().status().nodes} - self._current_node_uris())
        return status

    def _counted(self, status: GridStatus) -> GridStatus:
        """Only the nodes of tasks the swarm runs now: a task it stopped (scaled away, replaced)
        can still be UP on the Grid until the hub's health check, and counting its slots let `up`
        return before the new node had registered."""
        current = self._current_node_uris()
        return dataclasses.replace(status, nodes=[node for node in status.nodes if node.uri in current])

    def _current_node_uris(self) -> set[str]:
        return {node_uri(t.name) for service in self.services(role="node") for t in self._current_tasks(service)}

    def _forget_nodes(self, uris: set[str]) -> None:
        """Remove these nodes from the hub now, rather than after its health check."""
        if not uris:
            return
        secret = self._hub_secret()
        client = self.grid()
        for node in client.status().nodes:
            if node.uri in uris:
                client.remove_node(node.id, secret)

    def _wait_for_hub_task(self) -> None:
        """Fail at once when the hub's port is taken on the manager (the swarm would otherwise retry
        its task until the startup timeout), and once when its task never runs, rather than wait
        the startup timeout a second time for a hub that is not there."""

        def running() -> bool | None:
            tasks = [t for service in self.services(role="hub") for t in self.swarm.tasks(service)]
            if any(t.state == "running" and t.desired == "running" for t in tasks):
                return True
            if any("already in use" in t.error for t in tasks):
                raise PortInUseError(
                    f"port {self.config.hub_port} is already in use on the swarm's manager; free it or set --port / hub_port"
                )
            self.progress("waiting for the swarm to start the hub")
            return None

        if poll(running, self.config.startup_timeout) is None:
            raise self._startup_failure(GridError(f"the hub's task did not run within {self.config.startup_timeout:.0f}s"))

    def _remove_services(self, services: list[FarmService]) -> list[str]:
        """Remove services, and their containers on this manager at once: the swarm would stop
        them in its own time, and they would still be there when `up` or `down` returns."""
        removed = self.swarm.remove_services(services)
        ids = {s.id for s in services}

        def none_left() -> bool | None:
            """True once none is left; a task the swarm was starting may still turn up meanwhile."""
            left = [c for c in self.containers() if c.labels.get(SWARM_SERVICE_LABEL) in ids]
            self.engine.remove_containers(left)
            return None if left else True

        if ids:
            poll(none_left, 30)
        return removed

    def _startup_failure(self, exc: GridError) -> GridError:
        """Name the first task that is not running (or the hub), with the swarm's reason."""
        for service in self.services():
            for task in self.swarm.tasks(service):
                if task.desired == "running" and task.state != "running":
                    return NodeStartupError(f"{task.name} is {task.state} ({task.error or 'no error given'}): {exc}", "")
        return exc

    # down / status -----------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Remove the farm's services, then its networks and secrets (and any plain containers)."""
        removed = self._remove_services(self.services())
        removed += self.swarm.remove_overlays(labels.selector(self.config.name))
        removed += self.swarm.remove_secrets(labels.selector(self.config.name))
        return removed + super().down()

    def node_health(self, grid: GridStatus | None) -> list[NodeHealth]:
        """Each node task the swarm wants running, with the host it runs on and the Grid's view."""
        availability = {node.uri: node.availability for node in grid.nodes} if grid else {}
        hosts = {h.id: h for h in self.swarm.hosts()}
        health = []
        for service in self.services(role="node"):
            for task in sorted(self._current_tasks(service), key=lambda t: t.slot):
                seen = availability.get(node_uri(task.name), "not registered") if grid else "no answer"
                host = hosts.get(task.node_id)
                where = host.label if host else task.node_id[:12]
                # a lost host reports nothing: its tasks keep their last state until the swarm replaces them
                state = task.state if host is None or host.state == "ready" else f"host {host.state}"
                health.append(NodeHealth(f"{service.name}.{task.slot}", service.labels.get(labels.BROWSER, ""), state, seen, where))
        return health

    def _current_tasks(self, service: FarmService) -> list[FarmTask]:
        """The newest task of each slot that the swarm wants running (older ones are history)."""
        return [t for t in self.swarm.tasks(service) if t.desired == "running"]

    def node_containers(self) -> dict[str, str]:
        raise UsageError("--video records on a one-engine farm; a swarm's nodes live on engines the runner does not reach")

    def gateway(self) -> str:
        manager_id = self.swarm.manager_id()
        return self.runner_address(self.swarm.hosts(), manager_id)


def runs_here(engine: Engine, name: str) -> bool:
    """Whether farm `name` runs as services on this engine's swarm."""
    swarm = SwarmEngine(engine)
    try:
        return swarm.is_manager() and bool(swarm.services(labels.selector(name)))
    except FarmError:
        return False
