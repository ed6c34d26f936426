"""Uniform tests (the same page time each): an order cannot help, so any time farm adds over plain
xdist is overhead."""

import os

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

COUNT = int(os.environ.get("UNIFORM_TESTS", "60"))
MS = 1000


@pytest.mark.parametrize("index", range(COUNT))
def test_uniform(driver, base_url, index):
    driver.get(f"{base_url}delayed.html?ms={MS}")
    ready = WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, "ready")))
    assert ready.text == f"Ready after {MS} ms"
