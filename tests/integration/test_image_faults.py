"""Guarantee 4 for `farm images build`: a build that fails or is interrupted halfway leaves nothing.

Each test builds a probe image the way `farm images build` builds the farm's own (the hub's base,
a context in the farm cache, the classic builder) from a Dockerfile that fails, or sleeps until it
is interrupted, after a first step that succeeds. Afterwards the engine holds no new container, no
new dangling image, no probe tag, and the farm cache no temporary folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import pytest

from farm.core.errors import ImageError
from farm.infra.engine import Engine
from farm.infra.images import RECIPES, Recipe, build_image, cache_dir, prepare, side_by_side
from tests.conftest import default_signals, wait_until

pytestmark = pytest.mark.integration
PROBE_REPOSITORY = "farm-local/fault-probe"
PROBE = f"{PROBE_REPOSITORY}:{uuid.uuid4().hex[:8]}"  # named apart from any probe an earlier, interrupted run left
SLOW_PROBE = f"{PROBE_REPOSITORY}:slow-{uuid.uuid4().hex[:8]}"
FIRST_STEP = "ARG BASE\nFROM ${BASE}\nRUN echo first > /tmp/first\n"


def probe_recipe(folder: Path) -> Recipe:
    return Recipe("hub", PROBE, str(folder), ("hub.toml",))  # on the base every image shares, already built


def engine_state() -> tuple[set[str], set[str], set[str]]:
    client = docker.from_env()
    try:
        containers = {c.id for c in client.containers.list(all=True)}
        dangling = {i.id for i in client.images.list(filters={"dangling": True})}
    finally:
        client.close()
    return containers, dangling, {p.name for p in cache_dir().iterdir()}


def probe_exists() -> bool:
    engine = Engine.connect()
    return engine.has_image(PROBE) or engine.has_image(SLOW_PROBE)


def remove_earlier_probes() -> None:
    """Probes an interrupted run of these tests left: they would only confuse the engine's state."""
    client = docker.from_env()
    try:
        for image in client.images.list(name=PROBE_REPOSITORY):
            client.images.remove(image.id, force=True)
    finally:
        client.close()


@pytest.fixture
def clean_engine():
    if not Engine.connect().has_image(RECIPES["hub"].base_ref):
        pytest.skip("the hub's base image is not built; run scripts/setup")
    remove_earlier_probes()
    before = engine_state()
    yield before
    assert not probe_exists(), "a half-built image was tagged"
    # the engine removes a cancelled step's container on its own, within seconds
    wait_until(lambda: engine_state() == before, "the build has left no containers, dangling images or cache folders", timeout=15)


def test_a_failing_step_leaves_no_image_container_or_dangling_layer(tmp_path, clean_engine):
    (tmp_path / "Dockerfile").write_text(FIRST_STEP + "RUN exit 3\n")
    lines: list[str] = []
    with pytest.raises(ImageError, match="returned a non-zero code: 3"):
        build_image(Engine.connect(), probe_recipe(tmp_path), lines.append)
    assert any("RUN echo first" in line for line in lines)  # the first step did build a layer


def test_ctrl_c_during_a_build_rolls_it_back(tmp_path, clean_engine):
    (tmp_path / "Dockerfile").write_text(FIRST_STEP + "RUN sleep 120\n")
    script = (
        "import sys\n"
        "from farm.infra.engine import Engine\n"
        "from farm.infra.images import Recipe, build_image\n"
        f"recipe = Recipe('hub', {PROBE!r}, sys.argv[1], ('hub.toml',))\n"
        "build_image(Engine.connect(), recipe, lambda line: print(line, flush=True))\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=default_signals,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "RUN sleep 120" in "".join(seen[-2:]) and "Running in" in line:
            break
    else:
        pytest.fail("the build never reached its slow step: " + "".join(seen))
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "KeyboardInterrupt" in output


def test_a_failing_build_stops_the_one_beside_it_and_both_leave_nothing(tmp_path, clean_engine):
    """`farm images build` builds images side by side: one failing stops the other mid-step."""
    failing, slow = tmp_path / "failing", tmp_path / "slow"
    failing.mkdir()
    slow.mkdir()
    (failing / "Dockerfile").write_text(FIRST_STEP + "RUN sleep 3 && exit 3\n")
    (slow / "Dockerfile").write_text(FIRST_STEP + "RUN for i in $(seq 1 240); do echo tick $i; sleep 0.5; done\n")
    recipes = [probe_recipe(failing), Recipe("hub", SLOW_PROBE, str(slow), ("hub.toml",))]
    lines: list[str] = []
    engine = Engine.connect()
    with pytest.raises(ImageError, match="returned a non-zero code: 3"):
        side_by_side(engine, recipes, lines.append, prepare(engine, recipes, lines.append))
    ticks = [line for line in lines if "tick" in line]
    assert ticks and len(ticks) < 60, "the slow build ran on after the other had failed"
