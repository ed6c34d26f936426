"""`farm up` / `status` / scaling / `down` against the real Docker engine and real browsers."""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zipfile

import docker
import pytest

from farm.core import labels
from farm.core.catalogue import GRID_VERSION
from farm.infra.browsers import open_session
from farm.infra.event_bus_patch import EVENT_BUS_CLASS, long_constants
from farm.infra.images import DPKG_FILTER
from tests.conftest import free_port, leftovers, module_farm, wait_until

pytestmark = pytest.mark.integration
NAME = "farm-it-life"


@pytest.fixture(scope="module")
def farm_dir(tmp_path_factory):
    yield from module_farm(tmp_path_factory, NAME)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("browser", ["chrome", "firefox"])
def test_real_session_loads_a_page_and_takes_a_screenshot(farm_dir, browser):
    _, port = farm_dir
    driver = open_session(f"http://127.0.0.1:{port}", browser)
    try:
        driver.get("http://selenium-hub:4444/ui/")  # the hub's own UI, reached over the farm network
        assert "Selenium Grid" in driver.title
        width, height = png_size(driver.get_screenshot_as_png())
        assert width > 600 and height > 400
        assert driver.capabilities["browserName"] == browser
    finally:
        driver.quit()


def test_status_json_reports_slots_and_versions(farm_dir, cli_in):
    directory, port = farm_dir
    code, out, _ = cli_in(directory)("status", "--json")
    status = json.loads(out)
    assert code == 0 and status["ready"] is True and status["grid_url"] == f"http://127.0.0.1:{port}"
    assert status["version"] == GRID_VERSION and status["queue"] == 0
    assert status["browsers"]["chrome"]["slots"] == 2 and status["browsers"]["firefox"]["slots"] == 2
    assert status["browsers"]["chrome"]["version"].startswith("1") and status["browsers"]["firefox"]["version"]


def test_hub_is_published_on_loopback_only_and_nodes_are_hardened(farm_dir):
    client = docker.from_env()
    try:
        hub = client.containers.get(f"{NAME}-hub")
        bindings = hub.attrs["HostConfig"]["PortBindings"]
        assert bindings == {"4444/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(farm_dir[1])}]}
        for container in client.containers.list(filters={"label": f"io.github.farm.name={NAME}"}):
            host = container.attrs["HostConfig"]
            assert container.attrs["Config"]["User"] == "1200"
            assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
            assert not host["Privileged"] and host["NetworkMode"] != "host"
            assert not any("docker.sock" in (m.get("Source") or "") for m in container.attrs["Mounts"])
        node = client.containers.get(f"{NAME}-node-chrome-1")
        assert node.exec_run("id -un").output.decode().strip() == "seluser"
        assert node.attrs["HostConfig"]["ShmSize"] == 2 * 1024**3
    finally:
        client.close()


def file_from(container, path: str) -> bytes:
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        return archive.extractfile(archive.getmembers()[0]).read()


def jar_entry(jar: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(jar)) as archive:
        return archive.read(name)


def test_every_server_runs_the_event_bus_class_patched_only_in_its_wait_step(farm_dir):
    """Each server's JVM finds the patched class ahead of the server's own, and that class is the
    server's byte for byte but for the 1000 ms wait step, now 10 ms."""
    client = docker.from_env()
    try:
        for role in ("hub", "node-chrome-1", "node-firefox-1"):
            container = client.containers.get(f"{NAME}-{role}")
            java = next(row[-1] for row in container.top(ps_args="-o pid,args")["Processes"] if row[-1].startswith("java "))
            assert "-cp /opt/selenium/patches/event-bus.jar:/opt/selenium/selenium-server.jar " in java, java
        upstream = jar_entry(file_from(container, "/opt/selenium/selenium-server.jar"), EVENT_BUS_CLASS)
        patched = jar_entry(file_from(container, "/opt/selenium/patches/event-bus.jar"), EVENT_BUS_CLASS)
        (at,) = long_constants(upstream, 1000)
        assert long_constants(patched, 1000) == [] and at in long_constants(patched, 10)
        assert patched[:at] == upstream[:at] and patched[at + 8 :] == upstream[at + 8 :]
    finally:
        client.close()


def test_a_firefox_profile_gets_the_startup_caches_of_its_own_build_unless_it_has_caches(farm_dir):
    """The Firefox node's image holds startup caches written by its own Firefox build, and its
    Firefox wrapper copies them into a new profile folder (geckodriver's, before Firefox starts);
    a folder that already holds caches (a suite's own profile) is left as it is."""
    client = docker.from_env()
    try:
        node = client.containers.get(f"{NAME}-node-firefox-1")

        def sh(script: str) -> str:
            code, out = node.exec_run(["sh", "-c", script])
            assert code == 0, out.decode()
            return out.decode()

        build = sh("sed -n 's/^BuildID=//p' /usr/lib/firefox-esr/application.ini").strip()
        assert f"_{build}/{build}" in sh("cat /opt/selenium/firefox-seed/compatibility.ini")
        sh(
            "rm -rf /tmp/t && mkdir -p /tmp/t/new /tmp/t/own/startupCache && echo mine > /tmp/t/own/startupCache/x"
            " && /opt/bin/firefox -profile /tmp/t/new --version && /opt/bin/firefox -profile /tmp/t/own --version"
        )
        seed, new = "/opt/selenium/firefox-seed", "/tmp/t/new"
        for cache in ("compatibility.ini", "startupCache/scriptCache.bin", "startupCache/startupCache.8.little"):
            sh(f"cmp {seed}/{cache} {new}/{cache}")
        assert sh("cd /tmp/t/own && find . | sort").split() == [".", "./startupCache", "./startupCache/x"]
        sh("rm -rf /tmp/t")
    finally:
        client.close()


def test_every_image_leaves_out_documentation_and_translations_but_keeps_copyrights(farm_dir):
    """The base is filtered by dpkg's own configuration, written once the essential packages are
    extracted (not by mmdebstrap's per-package filter), and the plain extraction's files are removed:
    no image holds documentation beyond the copyright files or any translation, whether a package
    came from the essential extraction (dpkg), the base's install (openjdk) or a browser layer, which
    inherits the filter."""
    client = docker.from_env()
    try:
        own = {
            "hub": ("dpkg", "openjdk-17-jre-headless"),
            "node-chrome-1": ("dpkg", "chromium"),
            "node-firefox-1": ("coreutils", "firefox-esr"),
        }
        for name, packages in own.items():
            container = client.containers.get(f"{NAME}-{name}")
            script = (
                "cat /etc/dpkg/dpkg.cfg.d/99farm-filter && echo --- && find /usr/share/doc -type f ! -name copyright"
                " && find /usr/share/locale -mindepth 1 && echo --- && "
                + " && ".join(f"test -s /usr/share/doc/{package}/copyright" for package in packages)
            )
            code, out = container.exec_run(["sh", "-c", script])
            config, leftovers_, _ = out.decode().split("---\n")
            assert code == 0, f"{name}: {out.decode()}"
            assert config.split() == list(DPKG_FILTER)
            assert leftovers_ == "", f"{name} holds documentation or translations: {leftovers_[:400]}"
    finally:
        client.close()


def test_a_node_without_the_registration_secret_cannot_join(farm_dir, cli_in):
    client = docker.from_env()
    try:
        stray = client.containers.run(
            f"farm-local/node-chrome:{GRID_VERSION}",
            name=f"{NAME}-stray",
            detach=True,
            network=f"{NAME}-grid",
            environment={"SE_EVENT_BUS_HOST": "selenium-hub", "SE_NODE_MAX_SESSIONS": "3", "SE_NODE_OVERRIDE_MAX_SESSIONS": "true"},
            labels=labels.create_labels(NAME, "stray"),  # so `farm down` finds it whatever happens here
        )
        stray.reload()
        address = stray.attrs["NetworkSettings"]["Networks"][f"{NAME}-grid"]["IPAddress"]
        hub = client.containers.get(f"{NAME}-hub")
        # the hub saw the stray node's registration and turned it down (it says so for each message)
        wait_until(
            lambda: any("without a valid secret" in line and address in line for line in hub.logs(tail=200).decode().splitlines()),
            "the hub has rejected the stray node's registration",
            timeout=60,
        )
        status = json.loads(cli_in(farm_dir[0])("status", "--json")[1])
        assert status["browsers"]["chrome"]["slots"] == 2, "a node without the secret joined the grid"
        stray.remove(force=True)
    finally:
        client.close()


def test_up_again_with_same_config_changes_nothing(farm_dir, cli_in):
    code, out, _ = cli_in(farm_dir[0])("up", "--browsers", "chrome,firefox")
    assert code == 0 and "nothing changed" in out


def test_scale_up_then_down(farm_dir, cli_in):
    cli = cli_in(farm_dir[0])
    try:
        code, out, _ = cli("up", "--browsers", "chrome,firefox", "--nodes", "chrome=2,firefox=1")
        assert code == 0 and "started 1, removed 0" in out
        assert sorted(n for n in leftovers(NAME) if "-node-" in n) == [
            f"{NAME}-node-chrome-1",
            f"{NAME}-node-chrome-2",
            f"{NAME}-node-firefox-1",
        ]
        status = json.loads(cli("status", "--json")[1])
        chrome = status["browsers"]["chrome"]
        assert chrome == {"nodes": 2, "slots": 4, "busy": 0, "version": chrome["version"]}
        code, out, _ = cli("up", "--browsers", "chrome,firefox", "--nodes", "chrome=1,firefox=1")
        assert code == 0 and "started 0, removed 1" in out
        status = json.loads(cli("status", "--json")[1])
        assert status["browsers"]["chrome"]["slots"] == 2 and status["browsers"]["chrome"]["nodes"] == 1
    finally:  # the module's farm as the other tests expect it, whatever failed above
        cli("up", "--browsers", "chrome,firefox", "--nodes", "chrome=1,firefox=1")


def test_the_farm_started_on_another_port_is_found_then_removed(tmp_path, cli_in):
    """`farm up --port P` once: `farm status`, `farm test` and `farm down` find that farm without the
    flag (its config names no port). On a farm of its own, so no other test depends on its order."""
    name, port = f"{NAME}-port", free_port()
    (tmp_path / "farm.toml").write_text(f'name = "{name}"\nimage_set = "local"\noffline = true\n')
    (tmp_path / "test_page.py").write_text("def test_page(driver):\n    driver.get('about:blank')\n")
    cli = cli_in(tmp_path)
    try:
        code, out, _ = cli("up", "--browsers", "chrome", "--port", str(port))
        assert code == 0 and f"grid ready at http://127.0.0.1:{port}" in out
        code, out, _ = cli("status", "--json")
        assert code == 0 and json.loads(out)["grid_url"] == f"http://127.0.0.1:{port}"
        code, out, err = cli("test", "--browsers", "chrome", "--no-report")
        assert code == 0, out + err
        assert {f"{name}-hub", f"{name}-grid", f"{name}-node-chrome-1"} <= set(leftovers(name))
        code, out, _ = cli("down")
        assert code == 0 and f"{name}-hub" in out and f"{name}-grid" in out
        assert leftovers(name) == []
        code, out, _ = cli("down")
        assert code == 0 and "nothing to remove" in out
    finally:
        cli("down")
