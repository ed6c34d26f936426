"""Short cells for the soak benchmark: each opens a session, loads a page, checks it, quits."""

import os

import pytest

COUNT = int(os.environ.get("FARM_SOAK_TESTS", "250"))


@pytest.mark.parametrize("n", range(COUNT))
def test_short(driver, n):
    driver.get("about:blank")
    assert driver.execute_script("return arguments[0] * 2", n) == n * 2
