"""A real two-host Docker Swarm on this machine, for the swarm integration test.

Each host is a `dockerd` of its own in a network namespace of its own, joined to a bridge on this
machine by a veth pair: the manager at .2, the worker at .3, this machine (the runner) at .1.
Privileged containers do not start here, so Docker-in-Docker is out; a namespaced engine is a real
engine with its own data, containers, iptables and swarm state. A registry (Debian's
`docker-registry`) on the bridge serves images to both; each engine lists it as insecure, as a
plain-HTTP registry needs. The farm reaches the swarm only through the manager's API, and the
worker only through the swarm. Everything lives under one folder and is removed afterwards:
engines, their mounts, the namespaces, the bridge and the registry.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker

from tests.conftest import wait_until

SUBNET = "10.213.7"
BRIDGE = "farmsw0"
REGISTRY = f"{SUBNET}.1:5213"  # not 5000: a docker-registry service of the machine may hold that


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, check=False, capture_output=True, text=True)
    if check and done.returncode:
        raise AssertionError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done


@dataclass
class Host:
    """One swarm host: a dockerd in its own network namespace."""

    role: str
    address: str
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def netns(self) -> str:
        return f"farmsw-{self.role[:3]}"  # its veth is this plus "-h": interface names stop at 15

    @property
    def url(self) -> str:
        return f"tcp://{self.address}:2375"

    def client(self, timeout: int = 120) -> contextlib.closing[docker.DockerClient]:
        return contextlib.closing(docker.DockerClient(base_url=self.url, timeout=timeout))

    def start(self) -> None:
        sh("ip", "netns", "add", self.netns)
        sh("ip", "link", "add", f"{self.netns}-h", "type", "veth", "peer", "name", "eth0", "netns", self.netns)
        sh("ip", "link", "set", f"{self.netns}-h", "master", BRIDGE, "up")
        for argv in (
            ("addr", "add", f"{self.address}/24", "dev", "eth0"),
            ("link", "set", "eth0", "up"),
            ("link", "set", "lo", "up"),
            ("route", "add", "default", "via", f"{SUBNET}.1"),
        ):
            sh("ip", "-n", self.netns, *argv)
        self.folder.mkdir(parents=True)
        log = (self.folder / "dockerd.log").open("wb")
        # `ip netns exec` remounts /sys and dockerd then fails; nsenter only enters the network.
        self.process = subprocess.Popen(
            [
                "nsenter", f"--net=/var/run/netns/{self.netns}", "dockerd",
                "--data-root", str(self.folder / "data"), "--exec-root", str(self.folder / "exec"),
                "--pidfile", str(self.folder / "dockerd.pid"),
                "--host", f"unix://{self.folder / 'docker.sock'}", "--host", f"tcp://{self.address}:2375",
                "--tls=false", "--bridge", "none", "--insecure-registry", REGISTRY,
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

        def answers() -> bool:
            with contextlib.suppress(docker.errors.DockerException), self.client(timeout=5) as client:
                return bool(client.ping())
            return False

        wait_until(answers, f"the {self.role} engine answers", timeout=60, interval=0.5)

    def lose(self) -> None:
        """The host going away at once: its containers are killed, not given the stop grace in which
        the cells on them could still finish, and its engine stops."""
        with self.client(timeout=30) as client:
            for container in client.containers.list():
                with contextlib.suppress(docker.errors.DockerException):
                    container.kill()
        self.stop()

    def stop(self) -> None:
        """Stop the engine as a host going down would: its containers stop with it."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def remove(self) -> None:
        self.stop()
        # a killed engine can leave its containerd and shims: end whatever still uses its folder
        sh("pkill", "-9", "-f", str(self.folder), check=False)
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines() if str(self.folder) in line.split()[1]]
        for mount in sorted(mounts, key=len, reverse=True):
            sh("umount", "-l", mount, check=False)
        sh("ip", "netns", "del", self.netns, check=False)
        sh("ip", "link", "del", f"{self.netns}-h", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Swarm:
    manager: Host
    worker: Host
    registry: str


@contextlib.contextmanager
def two_host_swarm(folder: Path, images: list[str]) -> Iterator[Swarm]:
    """Start the bridge, the registry and both engines; make a swarm of them; give the manager the
    farm's images (as `farm images build` would have made them there). Remove it all afterwards."""
    manager = Host("manager", f"{SUBNET}.2", folder / "manager")
    worker = Host("worker", f"{SUBNET}.3", folder / "worker")
    registry: subprocess.Popen[bytes] | None = None
    try:
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        registry = start_registry(folder / "registry")
        manager.start()
        worker.start()
        with manager.client() as m, worker.client() as w:
            m.swarm.init(advertise_addr=manager.address, listen_addr=f"{manager.address}:2377")
            w.swarm.join(remote_addrs=[f"{manager.address}:2377"], join_token=m.swarm.attrs["JoinTokens"]["Worker"])
            copy_images(images, m)
        yield Swarm(manager, worker, REGISTRY)
    finally:
        for host in (worker, manager):
            host.remove()
        if registry is not None:
            registry.kill()
            registry.wait()
        sh("ip", "link", "del", BRIDGE, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def start_registry(folder: Path) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True)
    config = folder / "config.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {REGISTRY}\n"
    )
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answers() -> bool:
        return sh("curl", "-sf", f"http://{REGISTRY}/v2/", check=False).returncode == 0

    wait_until(answers, "the registry answers", timeout=30)
    return process


def copy_images(refs: list[str], target: docker.DockerClient) -> None:
    """`docker save | docker load` from this machine's engine to the manager's, through their APIs."""
    with contextlib.closing(docker.from_env(timeout=600)) as source:
        for ref in refs:
            started = time.monotonic()
            target.images.load(source.images.get(ref).save(named=True))
            print(f"copied {ref} to the manager in {time.monotonic() - started:.1f} s")
