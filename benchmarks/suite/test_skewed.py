"""30 tests with skewed durations (1-20 s, most short, a few long), each waiting on the page's timer.

Collection order puts the long ones last, as real suites often do (slow end-to-end flows at the
bottom of a file), which is what an order-blind scheduler pays for.
"""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

SECONDS = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1.5, 1.5, 1.5, 2, 2, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6, 7, 8, 10, 12, 15, 20]


@pytest.mark.parametrize("seconds", SECONDS, ids=[f"{i:02d}-{s}s" for i, s in enumerate(SECONDS)])
def test_waits_for_the_page(driver, base_url, seconds):
    driver.get(f"{base_url}delayed.html?ms={int(seconds * 1000)}")
    ready = WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, "ready")))
    assert ready.text == f"Ready after {int(seconds * 1000)} ms"
