"""The Docker Swarm boundary: services, tasks, secrets and overlay networks on a manager's engine.

Like `farm.infra.engine`, nothing docker-py returns leaves this module: services, tasks and swarm hosts
come back as frozen snapshots, and docker-py errors as FarmErrors that say what was being done.
The farm reaches a swarm only through its manager's API; the other hosts are reached by the swarm
itself (it starts their tasks, they pull their images from a registry).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import docker.errors
from docker.types import EndpointSpec, Mount, NetworkAttachmentConfig, RestartPolicy, SecretReference, ServiceMode

from farm.core.errors import EngineError, ImageError
from farm.infra.engine import Engine, translated

SECRETS_DIR = "/run/secrets"


@dataclass(frozen=True)
class SwarmHost:
    """One host of the swarm, as its manager sees it."""

    id: str
    hostname: str
    address: str  # the address the swarm reaches it on
    state: str  # ready, down, ...
    role: str
    cpus: int
    memory: int

    @property
    def label(self) -> str:
        return f"{self.address} ({self.hostname})"


@dataclass(frozen=True)
class FarmService:
    id: str
    name: str
    labels: dict[str, str]
    replicas: int
    image: str
    secrets: tuple[str, ...]  # secret ids


@dataclass(frozen=True)
class FarmTask:
    """One replica of a service: the container the swarm runs (or tries to) on one host."""

    id: str
    service: str  # service name
    slot: int
    node_id: str
    state: str  # running, pending, rejected, shutdown, ...
    desired: str  # running or shutdown
    error: str
    container_id: str

    @property
    def name(self) -> str:
        """The task's container name, which is also its hostname and its name on the overlay."""
        return f"{self.service}.{self.slot}.{self.id}"


@dataclass
class ServiceSpec:
    """Everything needed to create one farm service; the swarm adds nothing but what is here."""

    name: str
    image: str
    labels: dict[str, str]
    network: str
    replicas: int = 1
    environment: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    secret: tuple[str, str, str] | None = None  # (secret id, secret name, file name under /run/secrets)
    host_port: tuple[int, int] | None = None  # (published, target), published on the host running the task only
    constraints: list[str] = field(default_factory=list)
    hostname: str = ""
    hosts: dict[str, str] = field(default_factory=dict)
    shm_bytes: int = 0


class SwarmEngine:
    """A swarm manager's engine: the farm's way into every host of the swarm."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.client = engine.client

    def manager_id(self) -> str:
        """This engine's swarm node id; EngineError unless it is a swarm manager."""
        with translated("reading the engine's swarm state"):
            info = self.client.info().get("Swarm") or {}
        if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
            raise EngineError(
                "the engine is not a swarm manager; run `docker swarm init` there (and `docker swarm join` on the other hosts), "
                "or use mode = engine"
            )
        return str(info["NodeID"])

    def is_manager(self) -> bool:
        try:
            self.manager_id()
        except EngineError:
            return False
        return True

    def hosts(self) -> list[SwarmHost]:
        with translated("listing swarm hosts"):
            nodes = self.client.nodes.list()
        return [_host(n.attrs) for n in nodes]

    # networks, secrets ------------------------------------------------------------------------
    def ensure_overlay(self, name: str, labels: dict[str, str]) -> tuple[str, bool]:
        """The overlay network's id, and whether this call created it."""
        with translated(f"creating overlay network {name}"):
            found = [n for n in self.client.networks.list(names=[name]) if n.name == name]
            if found:
                return str(found[0].id), False
            network = self.client.networks.create(name, driver="overlay", attachable=True, labels=labels, check_duplicate=True)
        return str(network.id), True

    def find_secret(self, name: str) -> str | None:
        with translated(f"looking up secret {name}"):
            found = [s for s in self.client.secrets.list(filters={"name": name}) if s.name == name]
        return str(found[0].id) if found else None

    def create_secret(self, name: str, value: str, labels: dict[str, str]) -> str:
        with translated(f"creating secret {name}"):
            return str(self.client.secrets.create(name=name, data=value.encode(), labels=labels).id)

    def remove_secrets(self, selector: list[str]) -> list[str]:
        with translated("removing farm secrets"):
            found = self.client.secrets.list(filters={"label": selector})
            for secret in found:
                with contextlib.suppress(docker.errors.NotFound):
                    secret.remove()
        return [str(s.name) for s in found]

    def remove_overlays(self, selector: list[str], timeout: float = 90) -> list[str]:
        """Remove the farm's overlay networks and wait until they are gone: the swarm removes one
        only once the tasks of removed services have stopped, which takes seconds."""
        with translated("listing farm networks"):
            found = self.client.networks.list(filters={"label": selector, "driver": "overlay"})
        for network in found:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    network.remove()
                    if not self.client.networks.list(filters={"id": network.id}):
                        break
                except docker.errors.NotFound:
                    break
                except docker.errors.APIError as exc:
                    if time.monotonic() > deadline:
                        raise EngineError(f"removing network {network.name}: {exc.explanation or exc}; run `farm down` again") from exc
                if time.monotonic() > deadline:
                    raise EngineError(f"removing network {network.name}: still there after {timeout:.0f} s; run `farm down` again")
                time.sleep(1)
        return [str(n.name) for n in found]

    # services, tasks ----------------------------------------------------------------------------
    def services(self, selector: list[str]) -> list[FarmService]:
        with translated("listing farm services"):
            found = self.client.services.list(filters={"label": selector})
        return [_service(s.attrs) for s in found]

    def create_service(self, spec: ServiceSpec) -> FarmService:
        secrets = []
        if spec.secret:
            secret_id, secret_name, filename = spec.secret
            secrets = [SecretReference(secret_id, secret_name, filename=filename, uid="1200", gid="1200", mode=0o400)]
        mounts = [Mount("/dev/shm", None, type="tmpfs", tmpfs_size=spec.shm_bytes)] if spec.shm_bytes else []
        ports = {spec.host_port[0]: (spec.host_port[1], "tcp", "host")} if spec.host_port else None
        with translated(f"creating service {spec.name}"):
            service = self.client.services.create(
                spec.image,
                name=spec.name,
                labels=spec.labels,
                container_labels=spec.labels,
                env=[f"{k}={v}" for k, v in spec.environment.items()],
                networks=[NetworkAttachmentConfig(spec.network, aliases=spec.aliases or None)],
                secrets=secrets,
                mounts=mounts,
                mode=ServiceMode("replicated", replicas=spec.replicas),
                # dnsrr: names resolve to the tasks themselves, with no virtual IP (which needs IPVS)
                endpoint_spec=EndpointSpec(mode="dnsrr", ports=ports),
                constraints=spec.constraints or None,
                hostname=spec.hostname or None,
                hosts=spec.hosts or None,
                init=True,
                cap_drop=["ALL"],
                restart_policy=RestartPolicy(condition="any", delay=2_000_000_000),
            )
            service.reload()
        return _service(service.attrs)

    def scale(self, service: FarmService, replicas: int) -> None:
        with translated(f"scaling service {service.name}"):
            self.client.services.get(service.id).scale(replicas)

    def remove_services(self, services: list[FarmService]) -> list[str]:
        for service in services:
            with translated(f"removing service {service.name}"), contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_service(service.id)
        return [s.name for s in services]

    def tasks(self, service: FarmService) -> list[FarmTask]:
        with translated(f"listing tasks of {service.name}"):
            found = self.client.api.tasks(filters={"service": service.id})
        return [_task(service.name, t) for t in found]

    # images ------------------------------------------------------------------------------------
    def push(self, ref: str, registry: str, on_progress: Callable[[str], None]) -> str:
        """Push a local image to `registry` through this engine; returns the reference pinned by
        digest, so every host runs exactly this content even if the tag moves later."""
        repository, _, tag = ref.rpartition(":")
        target = f"{registry}/{_without_registry(repository)}"
        digest = ""
        with translated(f"pushing {ref} to {registry}"):
            self.client.api.tag(ref, target, tag)
            for event in self.client.api.push(target, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise ImageError(
                        f"pushing {ref} to {registry}: {event['error'].strip()}; every swarm engine must reach the registry "
                        "(a plain-HTTP one goes in each engine's insecure-registries)"
                    )
                digest = (event.get("aux") or {}).get("Digest", digest)
                if event.get("status") in ("Pushed", "Layer already exists"):
                    on_progress(f"{target}:{tag}: {event['status'].lower()} {event.get('id', '')}".strip())
        if not digest:
            raise ImageError(f"pushing {ref} to {registry}: the registry returned no digest")
        return f"{target}:{tag}@{digest}"


def _without_registry(repository: str) -> str:
    """`registry.example:5000/selenium/hub` -> `selenium/hub` (Docker's rule for a registry part)."""
    first, sep, rest = repository.partition("/")
    return rest if sep and ("." in first or ":" in first or first == "localhost") else repository


def _host(attrs: dict) -> SwarmHost:
    resources = attrs.get("Description", {}).get("Resources", {})
    address = str(attrs.get("Status", {}).get("Addr", ""))
    if address in ("", "0.0.0.0"):  # some engines report a manager so; its raft address is the real one
        address = str(attrs.get("ManagerStatus", {}).get("Addr", "")).rpartition(":")[0] or address
    return SwarmHost(
        id=str(attrs.get("ID", "")),
        hostname=str(attrs.get("Description", {}).get("Hostname", "")),
        address=address,
        state=str(attrs.get("Status", {}).get("State", "")),
        role=str(attrs.get("Spec", {}).get("Role", "")),
        cpus=int(resources.get("NanoCPUs", 0) // 1_000_000_000) or 1,
        memory=int(resources.get("MemoryBytes", 0)),
    )


def _service(attrs: dict) -> FarmService:
    spec = attrs.get("Spec", {})
    container = spec.get("TaskTemplate", {}).get("ContainerSpec", {})
    return FarmService(
        id=str(attrs.get("ID", "")),
        name=str(spec.get("Name", "")),
        labels=dict(spec.get("Labels") or {}),
        replicas=int(spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0)),
        image=str(container.get("Image", "")),
        secrets=tuple(str(s.get("SecretID", "")) for s in container.get("Secrets") or []),
    )


def _task(service: str, attrs: dict) -> FarmTask:
    status = attrs.get("Status", {})
    return FarmTask(
        id=str(attrs.get("ID", "")),
        service=service,
        slot=int(attrs.get("Slot", 0)),
        node_id=str(attrs.get("NodeID", "")),
        state=str(status.get("State", "")),
        desired=str(attrs.get("DesiredState", "")),
        error=str(status.get("Err", "")),
        container_id=str(status.get("ContainerStatus", {}).get("ContainerID", "")),
    )
