"""Content that appears on the page's own timers: the long end of the demo's durations."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec


@pytest.mark.parametrize("ms", [1000, 4000, 9000, 16000])
def test_delayed_element_appears(driver, base_url, wait, ms):
    driver.get(f"{base_url}delayed.html?ms={ms}")
    ready = wait.until(ec.presence_of_element_located((By.ID, "ready")))
    assert ready.text == f"Ready after {ms} ms"


@pytest.mark.parametrize("ms", [2000, 7000, 20000])
def test_export_progress_completes(driver, base_url, wait, ms):
    driver.get(f"{base_url}progress.html?ms={ms}")
    wait.until(lambda d: d.find_element(By.ID, "download").is_enabled())
    assert driver.find_element(By.ID, "percent").text == "100%"


def test_catalogue_loads_all_items(driver, base_url, wait):
    driver.get(f"{base_url}list.html?count=12&every=500")
    wait.until(ec.visibility_of_element_located((By.ID, "done")))
    assert len(driver.find_elements(By.CSS_SELECTOR, ".item")) == 12


def test_catalogue_filter(driver, base_url, wait):
    driver.get(f"{base_url}list.html?count=6&every=100")
    wait.until(ec.visibility_of_element_located((By.ID, "done")))
    driver.find_element(By.ID, "filter").send_keys("ham")
    visible = [li.text for li in driver.find_elements(By.CSS_SELECTOR, ".item") if li.is_displayed()]
    assert visible == []  # "Hammer" is the 8th name; only 6 were loaded
