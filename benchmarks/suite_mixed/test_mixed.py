"""18 tests of mixed length (0.3-4 s of page time each), the size of a typical feature's UI suite:
short enough that opening and quitting a browser per test is a large part of every cell."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

SECONDS = [0.3, 0.3, 0.5, 0.5, 0.5, 0.8, 0.8, 1, 1, 1, 1.5, 1.5, 2, 2, 2.5, 3, 3.5, 4]


@pytest.mark.parametrize("seconds", SECONDS, ids=[f"{i:02d}-{s}s" for i, s in enumerate(SECONDS)])
def test_waits_for_the_page(driver, base_url, seconds):
    driver.get(f"{base_url}delayed.html?ms={int(seconds * 1000)}")
    ready = WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, "ready")))
    assert ready.text == f"Ready after {int(seconds * 1000)} ms"
