"""A cell whose browser process is killed under it, and a cell that must still run afterwards."""

import os

import docker

from farm.infra.grid import GridClient


def kill_my_browser(driver, browser_name: str) -> None:
    """Kill this session's browser inside its node container (and nothing else: the processes are
    found by this session's own profile folder)."""
    caps = driver.capabilities
    marker = caps["moz:profile"] if browser_name == "firefox" else caps["chrome"]["userDataDir"]
    node_uri = GridClient(os.environ["FARM_GRID_URL"]).session_node(driver.session_id)
    client = docker.from_env()
    try:
        for container in client.containers.list(filters={"label": "io.github.farm.role=node"}):
            ips = [n["IPAddress"] for n in container.attrs["NetworkSettings"]["Networks"].values()]
            if any(node_uri == f"http://{ip}:5555" for ip in ips):
                script = (
                    'for p in /proc/[0-9]*; do pid="${p#/proc/}"; [ "$pid" = "$$" ] && continue; '
                    f'grep -qF -- "{marker}" "$p/cmdline" 2>/dev/null && kill -9 "$pid"; done; true'
                )
                container.exec_run(["sh", "-c", script], user="seluser")
                return
    finally:
        client.close()
    raise AssertionError(f"no node container serves {node_uri}")


def test_browser_is_killed(driver, browser_name):
    driver.get("about:blank")
    kill_my_browser(driver, browser_name)
    driver.get("about:blank")  # meets the dead browser


def test_still_runs(driver):
    driver.get("about:blank")
    assert driver.execute_script("return 6 * 7") == 42
