"""What a swarm farm asks the swarm for, checked without a swarm: the config keys, where the grid
is, how images are named in the registry, the node service's spec (no secret in it), and which
Grid nodes count as the farm's while the swarm stops and starts tasks."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from farm.core.catalogue import GRID_VERSION
from farm.core.config import FarmConfig, load_config
from farm.core.errors import ConfigError, UsageError
from farm.infra.grid import GridNode, GridStatus
from farm.infra.swarm_engine import FarmService, FarmTask, _host, _without_registry
from farm.infra.swarm_farm import SECRET_FILE, SwarmFarm


def swarm_farm(**config: object) -> SwarmFarm:
    """A SwarmFarm over no engine at all: only its pure parts may be called."""
    engine = SimpleNamespace(client=None)
    return SwarmFarm(FarmConfig(mode="swarm", max_sessions=2, **config).validate(), engine)  # type: ignore[arg-type]


def test_mode_and_registry_are_checked_and_come_from_the_environment(tmp_path):
    config = load_config(tmp_path, {"FARM_MODE": "swarm", "FARM_REGISTRY": "10.0.0.1:5000"})
    assert (config.mode, config.registry) == ("swarm", "10.0.0.1:5000")
    with pytest.raises(ConfigError, match="mode: 'cluster' must be one of engine, swarm"):
        load_config(tmp_path, {}, mode="cluster")
    with pytest.raises(ConfigError, match="registry: 'http://r:5000' must be HOST"):
        load_config(tmp_path, {}, registry="http://r:5000")


def test_a_swarm_farms_grid_is_on_the_manager_that_docker_host_names():
    assert FarmConfig(mode="swarm", docker_host="tcp://10.1.2.3:2375", hub_port=4555).grid_url == "http://10.1.2.3:4555"
    assert FarmConfig(mode="swarm", docker_host="unix:///var/run/docker.sock").grid_url == "http://127.0.0.1:4444"
    assert FarmConfig(docker_host="tcp://10.1.2.3:2375").grid_url == "http://127.0.0.1:4444"  # one engine: hub_host


def test_images_keep_their_path_under_the_registry():
    assert _without_registry("farm-local/node-chrome") == "farm-local/node-chrome"
    assert _without_registry("registry.example:5000/selenium/hub") == "selenium/hub"
    assert _without_registry("localhost/x") == "x"
    assert _without_registry("selenium/hub") == "selenium/hub"


def test_several_hosts_need_a_registry_and_one_host_does_not():
    farm = swarm_farm()
    with pytest.raises(UsageError, match=r"the swarm has 2 hosts .* set --registry HOST:PORT"):
        farm._publish([f"farm-local/hub:{GRID_VERSION}"], hosts=2)
    assert farm._publish([f"farm-local/hub:{GRID_VERSION}"], hosts=1) == {
        f"farm-local/hub:{GRID_VERSION}": f"farm-local/hub:{GRID_VERSION}"
    }


def test_node_service_reads_the_secret_from_a_file_and_registers_under_its_task_name():
    farm = swarm_farm(nodes={"chrome": 3})
    image = f"r:5000/farm-local/node-chrome:{GRID_VERSION}@sha256:ab"
    spec = farm._node_service_spec("chrome", image, ("sid", "farm-registration", SECRET_FILE), "10.9.0.1")
    assert spec.replicas == 3 and spec.name == "farm-node-chrome"
    assert spec.secret == ("sid", "farm-registration", SECRET_FILE)
    assert spec.environment["SE_REGISTRATION_SECRET_FILE"] == f"/run/secrets/{SECRET_FILE}"
    assert not any("SECRET" in key and not key.endswith("_FILE") for key in spec.environment)
    assert spec.environment["SE_NODE_HOST"] == spec.hostname == "{{.Task.Name}}"
    assert spec.hosts == {"farm-host": "10.9.0.1"}  # the runner, where the suite's app and localhost are
    assert spec.labels["io.github.farm.browser"] == "chrome" and spec.labels["io.github.farm.slots"] == "2"


def test_a_manager_reported_on_no_address_is_found_on_its_raft_address():
    manager = {"ID": "m", "Status": {"Addr": "0.0.0.0", "State": "ready"}, "ManagerStatus": {"Addr": "10.0.0.2:2377"}}
    worker = {"ID": "w", "Status": {"Addr": "10.0.0.3", "State": "down"}, "Description": {"Resources": {"NanoCPUs": 4_000_000_000}}}
    assert (_host(manager).address, _host(manager).cpus) == ("10.0.0.2", 1)
    assert (_host(worker).address, _host(worker).state, _host(worker).cpus) == ("10.0.0.3", "down", 4)


CHROME = FarmService("s1", "farm-node-chrome", {}, 2, "img", ())


def task(slot: int, desired: str = "running", state: str = "running") -> FarmTask:
    return FarmTask(f"t{slot}", CHROME.name, slot, "host", state, desired, "", "")


def grid_node(slot: int) -> GridNode:
    return GridNode(f"node-{slot}", f"http://{task(slot).name}:5555", "UP", {})


class FakeSwarm:
    """The chrome service's tasks as the manager reports them, one answer per call (the last repeats)."""

    def __init__(self, *answers: list[FarmTask]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def services(self, selector: list[str]) -> list[FarmService]:
        return [CHROME]

    def tasks(self, service: FarmService) -> list[FarmTask]:
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def scale(self, service: FarmService, replicas: int) -> None:
        pass


class FakeGrid:
    def __init__(self, *slots: int) -> None:
        self.nodes = [grid_node(slot) for slot in slots]
        self.removed: list[tuple[str, str]] = []

    def status(self) -> GridStatus:
        return GridStatus("http://hub", True, "4", 0, list(self.nodes))

    def remove_node(self, node_id: str, secret: str) -> None:
        self.removed.append((node_id, secret))


def test_only_nodes_of_tasks_the_swarm_runs_count_towards_ready():
    """A node whose task was scaled away may still be UP on the Grid (until the hub's health
    check): counting its slots once let `up` return before the new node had registered."""
    farm = swarm_farm()
    farm.swarm = FakeSwarm([task(1), task(2, desired="shutdown"), task(3)])  # type: ignore[assignment]
    counted = farm._counted(FakeGrid(1, 2, 3, 4).status())
    assert [n.id for n in counted.nodes] == ["node-1", "node-3"]


def test_a_node_scaled_away_is_removed_from_the_hub_once_its_container_stopped():
    """Removed while its container still runs, a node comes back with its next heartbeat."""
    farm = swarm_farm()
    swarm = FakeSwarm(
        [task(1), task(2)],  # before scaling
        [task(1), task(2, desired="shutdown")],  # scaled: the swarm wants it gone, it still runs
        [task(1), task(2, desired="shutdown", state="shutdown")],  # stopped
    )
    grid = FakeGrid(1, 2)
    farm.swarm = swarm  # type: ignore[assignment]
    farm.grid = lambda: grid  # type: ignore[method-assign]
    farm._hub_secret = lambda: "s3cret"  # type: ignore[method-assign]
    farm._scale(dataclasses.replace(CHROME, replicas=2), 1)
    assert grid.removed == [("node-2", "s3cret")]
    assert swarm.calls == 3  # it waited for the stop the third answer reports
