"""Cells that keep their browser busy for a while, so a node can be killed under them. Each busy
cell leaves a file in $NODELOSS_BUSY_DIR (when set) once its browser is busy: the test kills nodes
only when every slot runs a cell, not a session still being opened or proven."""

import os
import time
from pathlib import Path

import pytest

BUSY_SECONDS = 15


@pytest.mark.parametrize("part", [1, 2, 3])
def test_keeps_the_browser_busy(driver, part):
    driver.get("about:blank")
    if os.environ.get("NODELOSS_BUSY_DIR"):
        (Path(os.environ["NODELOSS_BUSY_DIR"]) / f"{driver.session_id}-{part}").touch()
    end = time.monotonic() + BUSY_SECONDS
    while time.monotonic() < end:
        assert driver.execute_script("return arguments[0] + 1", part) == part + 1
        time.sleep(0.5)


@pytest.mark.parametrize("part", [1, 2])
def test_short(driver, part):
    driver.get("about:blank")
    assert driver.execute_script("return 40 + arguments[0]", part) == 40 + part
