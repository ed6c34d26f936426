"""`farm images build` after the recipe changed (another farm release, other packages): the base
roots and browser layers of the earlier recipe, named by its hash, are untagged, and go with the
last image built on them; their downloads go too; the current recipe's images and downloads stay."""

from __future__ import annotations

import uuid

import docker
import pytest

from farm.core.catalogue import LOCAL_REPOSITORY
from farm.infra.engine import Engine
from farm.infra.images import BASE_REF, RECIPES, build_images, cache_dir

pytestmark = pytest.mark.integration
EARLIER = uuid.uuid4().hex[:12]  # the hash of a recipe no farm has
OLD_BASE, OLD_LAYER = f"{LOCAL_REPOSITORY}/base:{EARLIER}", f"{LOCAL_REPOSITORY}/layer-chrome:{EARLIER}"
OLD_NODE = f"farm-it-upgrade/node-chrome:{EARLIER}"  # a node image of the earlier recipe, still in use


def derive(client: docker.DockerClient, image: str, ref: str) -> None:
    """A new image built on `image` (one empty layer), as a layer or a node is built on a base."""
    container = client.containers.create(image, ["true"], network_mode="none")
    try:
        repository, _, tag = ref.rpartition(":")
        container.commit(repository=repository, tag=tag)
    finally:
        container.remove(force=True)


def present(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def test_an_earlier_recipes_base_and_layers_go_and_their_content_with_the_last_image_on_them():
    engine = Engine.connect()
    if not all(engine.has_image(RECIPES[key].base_ref) for key in ("hub", "chrome")):
        pytest.skip("the farm's images are not built; run scripts/setup")
    client = docker.from_env()
    debs = cache_dir() / "debs"
    old_debs, current = debs / EARLIER / "chrome", debs / BASE_REF.rpartition(":")[2] / f"farm-it-upgrade-{EARLIER}"
    try:
        derive(client, BASE_REF, OLD_BASE)
        derive(client, OLD_BASE, OLD_LAYER)
        derive(client, OLD_LAYER, OLD_NODE)
        old_ids = [client.images.get(ref).id for ref in (OLD_BASE, OLD_LAYER)]
        old_debs.mkdir(parents=True)
        (old_debs / "chromium_1_amd64.deb").write_bytes(b"old")
        current.parent.mkdir(parents=True, exist_ok=True)
        current.write_bytes(b"current")
        said: list[str] = []

        build_images(engine, ("chrome",), said.append)  # everything current is up to date
        assert f"removed {OLD_LAYER}, superseded" in said and f"removed {OLD_BASE}, superseded" in said, said
        assert not present(client, OLD_BASE) and not present(client, OLD_LAYER)
        assert client.containers.run(OLD_NODE, ["true"], network_mode="none", remove=True) == b"", "the node in use lost its layers"
        assert not (debs / EARLIER).exists(), "the earlier recipe's downloads are left"
        assert current.is_file(), "the current recipe's downloads were removed"
        for key in ("hub", "chrome"):
            assert present(client, RECIPES[key].ref) and present(client, RECIPES[key].base_ref)

        client.images.remove(OLD_NODE)  # its untagged parents go with it
        assert not any(present(client, image_id) for image_id in old_ids)
    finally:
        for ref in (OLD_NODE, OLD_LAYER, OLD_BASE):
            if present(client, ref):
                client.images.remove(ref, force=True)
        current.unlink(missing_ok=True)
        client.close()
        engine.close()
