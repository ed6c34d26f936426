"""Short cells for the soak benchmark: each opens a session, loads a page, uses it for about a
second (so a killed node takes running cells with it, not only sessions being made), quits."""

import os
import time

import pytest

COUNT = int(os.environ.get("FARM_SOAK_TESTS", "250"))


@pytest.mark.parametrize("n", range(COUNT))
def test_short(driver, n):
    driver.get("about:blank")
    for step in range(4):
        assert driver.execute_script("return arguments[0] * 2", n + step) == (n + step) * 2
        time.sleep(0.25)
