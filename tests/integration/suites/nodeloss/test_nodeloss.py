"""Cells that keep their browser busy for a while, so a node can be killed under them."""

import time

import pytest

BUSY_SECONDS = 15


@pytest.mark.parametrize("part", [1, 2, 3])
def test_keeps_the_browser_busy(driver, part):
    driver.get("about:blank")
    end = time.monotonic() + BUSY_SECONDS
    while time.monotonic() < end:
        assert driver.execute_script("return arguments[0] + 1", part) == part + 1
        time.sleep(0.5)


@pytest.mark.parametrize("part", [1, 2])
def test_short(driver, part):
    driver.get("about:blank")
    assert driver.execute_script("return 40 + arguments[0]", part) == 40 + part
