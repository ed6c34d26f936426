"""A suite written before farm: a module-scoped driver per browser, chosen by an environment variable."""

import os

import pytest
from selenium import webdriver


@pytest.fixture(scope="module")
def browser_name():
    return os.environ.get("BROWSER", "firefox")


@pytest.fixture(scope="module")
def driver(browser_name):
    options = webdriver.FirefoxOptions() if browser_name == "firefox" else webdriver.ChromeOptions()
    options.add_argument("--headless")
    session = webdriver.Firefox(options=options) if browser_name == "firefox" else webdriver.Chrome(options=options)
    yield session
    session.quit()
