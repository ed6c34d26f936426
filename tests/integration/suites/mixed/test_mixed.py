"""One test per outcome, run by the farm's own integration tests on chrome and firefox."""

import os
import time

import pytest
from selenium.webdriver.common.by import By


def test_passes(driver, base_url, browser_name):
    driver.get(base_url)
    driver.find_element(By.ID, "go").click()
    assert driver.find_element(By.ID, "out").text == "clicked"
    assert driver.capabilities["browserName"] == browser_name


def test_fails_an_assertion(driver, base_url):
    driver.get(base_url)
    assert driver.find_element(By.ID, "title").text == "Not the title"


def test_errors(driver, base_url):
    driver.get(base_url)
    driver.find_element(By.ID, "no-such-element")


@pytest.mark.skip(reason="shows a skipped cell")
def test_skipped(driver):
    pass


def test_hangs(driver, base_url):
    driver.get(base_url)
    time.sleep(600)


def test_flaky_passes_on_rerun(driver, base_url, browser_name, tmp_path_factory):
    marker = tmp_path_factory.getbasetemp().parent.parent / f"flaky-{browser_name}-{os.getppid()}"
    driver.get(base_url)
    if not marker.exists():
        marker.write_text("failed once")
        raise AssertionError("first attempt fails")
