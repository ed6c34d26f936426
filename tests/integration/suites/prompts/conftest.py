"""A suite in a common style of its own: one local Chrome per module (farm turns it into a Grid
session of the cell's browser), pages under the base URL pytest-base-url would give."""

import pytest
from selenium import webdriver


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.add_argument("--headless=new")
    driver = webdriver.Chrome(options=options)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, base_url):
    browser.get(base_url)
    return browser
