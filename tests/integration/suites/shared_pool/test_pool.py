"""Uneven work per browser: chrome's cells are short, firefox's long, so on nodes of one browser
each chrome's slots would idle while firefox's cells queue. On shared nodes they must not."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

MS = {"chrome": 200, "firefox": 2500}


@pytest.mark.parametrize("index", range(4))
def test_page(driver, base_url, browser_name, index):
    ms = MS[browser_name]
    driver.get(f"{base_url}delayed.html?ms={ms}")
    ready = WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, "ready")))
    assert ready.text == f"Ready after {ms} ms"
    assert driver.capabilities["browserName"] == browser_name
