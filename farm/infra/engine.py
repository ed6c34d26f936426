"""The Docker engine boundary: docker-py in, farm objects and FarmErrors out.

The engine is a parameter everywhere (an `Engine` built from a base URL), so nodes can later live
on several engines. Every create call goes through here and carries farm labels. Nothing docker-py
returns leaves this module: containers and networks come back as the frozen snapshots below, read
in one call, so what a caller sees is what the engine said at that moment. Use it as a context
manager, so its connection is closed.
"""

from __future__ import annotations

import contextlib
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import docker
import docker.errors
from docker.models.containers import Container

from farm.core.errors import EngineError, ImageError
from farm.core.labels import PREFIX as LABEL_PREFIX

START_ENGINE_HINT = (
    "start one (Debian, as root: `apt-get install docker.io` and run `dockerd`) or point DOCKER_HOST / docker_host at a running engine"
)


@dataclass
class ContainerSpec:
    """Everything needed to create one farm container; the engine adds nothing but what is here."""

    name: str
    image: str
    labels: dict[str, str]
    network: str
    environment: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    ports: dict[str, tuple[str, int]] = field(default_factory=dict)
    shm_size: str | None = None
    dns_options: list[str] | None = None
    extra_hosts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FarmContainer:
    """A container as the engine described it when listed."""

    id: str
    name: str
    status: str  # running, exited, created, ...
    exit_code: int | None
    labels: dict[str, str]
    image_id: str  # the image it runs (a rebuilt tag points elsewhere: the container is stale)
    env: dict[str, str]
    ips: dict[str, str]  # network name -> address

    @classmethod
    def of(cls, container: Container) -> FarmContainer:
        attrs = container.attrs
        env = attrs.get("Config", {}).get("Env") or []
        networks = attrs.get("NetworkSettings", {}).get("Networks") or {}
        return cls(
            id=str(container.id),
            name=str(container.name),
            status=str(attrs.get("State", {}).get("Status", container.status)),
            exit_code=attrs.get("State", {}).get("ExitCode"),
            labels=dict(attrs.get("Config", {}).get("Labels") or {}),
            image_id=str(attrs.get("Image", "")),
            env=dict(item.split("=", 1) for item in env if "=" in item),
            ips={name: str(net.get("IPAddress")) for name, net in networks.items() if net.get("IPAddress")},
        )

    @property
    def state(self) -> str:
        """ "running", or e.g. "exited (137)" after a docker kill."""
        return self.status if self.status == "running" else f"{self.status} ({self.exit_code if self.exit_code is not None else '?'})"


@dataclass(frozen=True)
class FarmNetwork:
    id: str
    name: str
    gateway: str  # the host's address on it: where containers reach the runner


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn docker-py errors into FarmErrors that say what was being done."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise ImageError(f"{action}: image not found ({exc.explanation})") from exc
    except docker.errors.APIError as exc:
        raise EngineError(f"{action}: {exc.explanation or exc}") from exc
    except docker.errors.DockerException as exc:
        raise EngineError(f"{action}: Docker engine unreachable ({exc}); {START_ENGINE_HINT}") from exc
    except OSError as exc:  # socket-level failures that slip past docker-py
        raise EngineError(f"{action}: Docker engine unreachable ({exc}); {START_ENGINE_HINT}") from exc


class Engine:
    """One Docker engine the farm talks to."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, base_url: str | None = None, timeout: int = 120) -> Engine:
        """Connect and ping, so an absent engine fails here with a hint instead of mid-way."""
        try:
            client = docker.DockerClient(base_url=base_url, timeout=timeout) if base_url else docker.from_env(timeout=timeout)
            client.ping()
        except (docker.errors.DockerException, OSError) as exc:
            where = base_url or "the default socket"
            raise EngineError(f"Docker engine unreachable at {where}; {START_ENGINE_HINT}") from exc
        return cls(client)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # networks -------------------------------------------------------------------------------
    def find_network(self, name: str) -> FarmNetwork | None:
        with translated(f"looking up network {name}"):
            found = [n for n in self.client.networks.list(names=[name]) if n.name == name]
            return self._network(found[0].id) if found else None

    def create_network(self, name: str, labels: dict[str, str]) -> FarmNetwork:
        with translated(f"creating network {name}"):
            return self._network(self.client.networks.create(name, driver="bridge", labels=labels, check_duplicate=True).id)

    def _network(self, network_id: str) -> FarmNetwork:
        network = self.client.networks.get(network_id)  # inspected: the list gives no IPAM details
        gateways = [c["Gateway"] for c in network.attrs.get("IPAM", {}).get("Config") or [] if c.get("Gateway")]
        return FarmNetwork(str(network.id), str(network.name), str(gateways[0]) if gateways else "")

    def farm_networks(self, selector: list[str]) -> list[FarmNetwork]:
        with translated("listing farm networks"):
            return [FarmNetwork(str(n.id), str(n.name), "") for n in self.client.networks.list(filters={"label": selector})]

    # containers -----------------------------------------------------------------------------
    def run(self, spec: ContainerSpec) -> Container:
        """Create and start a container; a container that fails to start is removed, not left."""
        endpoint = self.client.api.create_endpoint_config(aliases=spec.aliases or None)
        networking = self.client.api.create_networking_config({spec.network: endpoint})
        host_config = self.client.api.create_host_config(
            port_bindings={port: binding for port, binding in spec.ports.items()},
            shm_size=spec.shm_size,
            dns_opt=spec.dns_options,
            extra_hosts=spec.extra_hosts or None,
            network_mode=spec.network,
            security_opt=["no-new-privileges"],
            cap_drop=["ALL"],
            init=True,
        )
        with translated(f"creating container {spec.name}"):
            created = self.client.api.create_container(
                image=spec.image,
                name=spec.name,
                labels=spec.labels,
                environment=spec.environment,
                ports=[int(p.split("/")[0]) for p in spec.ports],
                host_config=host_config,
                networking_config=networking,
                detach=True,
            )
        try:
            with translated(f"starting container {spec.name}"):
                self.client.api.start(created["Id"])
                return FarmContainer.of(self.client.containers.get(created["Id"]))
        except BaseException:
            with contextlib.suppress(docker.errors.DockerException):
                self.client.api.remove_container(created["Id"], force=True, v=True)
            raise

    def farm_containers(self, selector: list[str]) -> list[FarmContainer]:
        with translated("listing farm containers"):
            found = self.client.containers.list(all=True, filters={"label": selector}, ignore_removed=True)
        return [FarmContainer.of(c) for c in found]

    def remove_containers(self, containers: list[FarmContainer]) -> list[str]:
        """Force-remove containers (and their anonymous volumes); already-gone ones count as removed."""
        for container in containers:
            with translated(f"removing container {container.name}"), contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_container(container.id, force=True, v=True)
        return [c.name for c in containers]

    def remove_networks(self, networks: list[FarmNetwork]) -> list[str]:
        for network in networks:
            with translated(f"removing network {network.name}"), contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_network(network.id)
        return [n.name for n in networks]

    def machine(self) -> tuple[int, int]:
        """The engine host's CPUs and memory in bytes (where the browsers run, not the runner)."""
        with translated("reading the engine's machine"):
            info = self.client.info()
        return int(info.get("NCPU") or 1), int(info.get("MemTotal") or 0)

    def logs_tail(self, container: FarmContainer, lines: int = 20) -> str:
        with contextlib.suppress(docker.errors.DockerException):
            return self.client.api.logs(container.id, tail=lines).decode("utf-8", "replace").strip()
        return ""

    def exec(self, container_id: str, argv: list[str], environment: dict[str, str] | None = None) -> tuple[int, str]:
        """Run a command in a running container as its own user; (exit code, output)."""
        with translated(f"running {argv[0]} in container {container_id[:12]}"):
            code, output = self.client.containers.get(container_id).exec_run(argv, environment=environment, demux=False)
        return int(code if code is not None else -1), (output or b"").decode("utf-8", "replace").strip()

    def copy_out(self, container_id: str, path: str, dest: Path) -> Path:
        """One file out of a container into `dest` (written whole, then renamed into place)."""
        partial = dest.with_name(dest.name + ".partial")
        try:
            with translated(f"copying {path} out of container {container_id[:12]}"), tempfile.TemporaryFile() as archive:
                stream, _ = self.client.api.get_archive(container_id, path)
                for chunk in stream:
                    archive.write(chunk)
                archive.seek(0)
                with tarfile.open(fileobj=archive) as tar:
                    member = tar.next()
                    source = tar.extractfile(member) if member is not None else None
                    if source is None:
                        raise EngineError(f"copying {path} out of container {container_id[:12]}: not a file")
                    with partial.open("wb") as out:
                        shutil.copyfileobj(source, out)
            partial.replace(dest)
        finally:
            partial.unlink(missing_ok=True)  # a half-copied file never stays behind
        return dest

    # images ---------------------------------------------------------------------------------
    def image_labels(self, ref: str) -> dict[str, str] | None:
        """The image's labels, or None when the engine does not have it."""
        try:
            image = self.client.images.get(ref)
        except docker.errors.ImageNotFound:
            return None
        except (docker.errors.DockerException, OSError) as exc:
            raise EngineError(f"inspecting image {ref}: {exc}") from exc
        return dict(image.labels or {})

    def has_image(self, ref: str) -> bool:
        return self.image_labels(ref) is not None

    def image_id(self, ref: str) -> str | None:
        """The id a tag points at now (None when absent): containers made from another are stale."""
        return self._image_id(ref)

    def pull(self, ref: str, on_progress: Callable[[str], None] | None = None) -> bool:
        """Try to pull an image; False when no registry serves it (the normal case offline)."""
        repository, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "latest")
        try:
            for event in self.client.api.pull(repository, tag=tag, stream=True, decode=True):
                if on_progress and event.get("status"):
                    on_progress(f"{ref}: {event['status']} {event.get('progress', '')}".strip())
        except (docker.errors.DockerException, OSError):
            return False
        return self.has_image(ref)

    def import_stream(self, tar: IO[bytes], ref: str) -> None:
        """Import a root filesystem's tar while it is still being written (chunked upload)."""
        repository, _, tag = ref.rpartition(":")
        with translated(f"importing {ref}"):
            self.client.api.import_image(src=tar, repository=repository, tag=tag, stream_src=True)

    def remove_image(self, ref: str) -> None:
        with contextlib.suppress(docker.errors.DockerException, OSError):
            self.client.images.remove(ref, force=True)

    def tags(self, repository_prefix: str) -> list[str]:
        """Every tag of the engine's images whose repository starts with repository_prefix."""
        with translated("listing images"):
            images = self.client.images.list()
        return sorted(tag for image in images for tag in image.tags if tag.rpartition(":")[0].startswith(repository_prefix))

    def untag(self, ref: str) -> bool:
        """Remove the tag ref. The engine deletes the image with it unless another image is built
        on it; then the image goes with the last of those (the engine prunes untagged parents).
        False: a container uses the image, and the tag stays."""
        try:
            self.client.images.remove(ref)
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                return False
            raise
        return True

    def commit_layer(
        self,
        image: str,
        files: list[Path],
        into: str,
        command: str,
        ref: str,
        labels: dict[str, str],
        scratch: Path,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        """Run `command` over `files` copied to `into` in a container of `image` without a network,
        and commit the result as `ref`: one layer. The files travel through the API (not a bind
        mount), so a remote engine works too. All or nothing: the container goes in every case,
        and nothing is tagged unless the command succeeded."""
        container = None
        try:
            with translated(f"making {ref}"):
                container = self.client.containers.create(image, ["/bin/sh", "-c", command], network_mode="none", user="0", labels=labels)
                with tempfile.TemporaryFile(dir=scratch) as archive:
                    with tarfile.open(fileobj=archive, mode="w") as tar:
                        for path in files:
                            tar.add(path, arcname=f"{Path(into).name}/{path.name}")
                    archive.seek(0)
                    container.put_archive(str(Path(into).parent), archive)
                container.start()
                last = ""
                for chunk in container.logs(stream=True, follow=True):
                    for line in chunk.decode(errors="replace").splitlines():
                        if line.strip():
                            last = line.strip()
                            if on_progress:
                                on_progress(f"{ref}: {last}")
                status = container.wait().get("StatusCode", 1)
                if status != 0:
                    raise ImageError(f"making {ref} failed (exit {status}): {last}")
                repository, _, tag = ref.rpartition(":")
                container.commit(repository=repository, tag=tag, changes=["CMD []"])
        finally:
            if container is not None:
                with contextlib.suppress(docker.errors.DockerException, OSError):
                    container.remove(force=True)

    def build(
        self,
        context: str,
        ref: str,
        labels: dict[str, str],
        buildargs: dict[str, str] | None = None,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        """Build with the classic builder, streaming its steps to on_progress.

        All or nothing: a build that fails or is interrupted removes the untagged step images it
        made, and a build that replaces `ref` removes the image it untagged, so neither leaves
        dangling images behind. The builder itself removes its step containers (forcerm).
        """
        previous = self._image_id(ref)
        steps: list[str] = []
        try:
            with translated(f"building {ref}"):
                stream = self.client.api.build(
                    path=context,
                    tag=ref,
                    labels=labels,
                    buildargs=buildargs or {},
                    rm=True,
                    forcerm=True,
                    decode=True,
                    network_mode="none",
                )
                for event in stream:
                    if "error" in event:
                        raise ImageError(f"building {ref}: {event['error'].strip()}")
                    line = (event.get("stream") or "").strip()
                    if line.startswith("---> ") and len(line.split()) == 2:
                        steps.append(line.split()[1])
                    if line and on_progress:
                        on_progress(line)
        except BaseException:
            # The engine cancels a build only once its client hangs up, which this process has not
            # done yet: remove the running step's container, which frees the last step's image.
            self._remove_step_containers(steps[-1:])
            deadline = time.monotonic() + 20
            while self._remove_dangling(steps) and time.monotonic() < deadline:
                time.sleep(0.5)
            raise
        if previous and previous != self._image_id(ref):
            self._remove_dangling([previous])

    def _remove_step_containers(self, image_ids: list[str]) -> None:
        with contextlib.suppress(docker.errors.DockerException, OSError):
            for image_id in image_ids:
                for container in self.client.containers.list(all=True, filters={"ancestor": image_id}):
                    # only the builder's own container: made from exactly this step, and not the farm's
                    made_from = str(container.attrs.get("Image", "")).removeprefix("sha256:")
                    if made_from.startswith(image_id.removeprefix("sha256:")) and not any(
                        k.startswith(LABEL_PREFIX) for k in container.labels
                    ):
                        with contextlib.suppress(docker.errors.DockerException, OSError):
                            container.remove(force=True)

    def _image_id(self, ref: str) -> str | None:
        with contextlib.suppress(docker.errors.DockerException, OSError):
            return str(self.client.images.get(ref).id)
        return None

    def _remove_dangling(self, image_ids: list[str]) -> bool:
        """Remove these images where untagged (a cached step shared with a tagged image stays).

        Returns True while one is still there, e.g. held by a step container being cancelled.
        """
        left = False
        with contextlib.suppress(docker.errors.DockerException, OSError):
            dangling = {image.id for image in self.client.images.list(filters={"dangling": True})}
            for image_id in reversed(image_ids):
                full = next((d for d in dangling if d.removeprefix("sha256:").startswith(image_id.removeprefix("sha256:"))), None)
                if full:
                    try:
                        self.client.images.remove(full, noprune=False)
                    except (docker.errors.DockerException, OSError):
                        left = True
        return left
