"""A suite written before farm: one browser per session, chosen by its own --browser-name option,
built locally with webdriver.Chrome()/Firefox(), headed (no headless argument)."""

import pytest
from selenium import webdriver


def pytest_addoption(parser):
    parser.addoption("--browser-name", action="store", required=True, help="chrome or firefox")
    parser.addoption("--app-env", action="store", required=True, help="which environment the suite checks")


@pytest.fixture(scope="session")
def browser_name(request):
    return request.config.getoption("--browser-name")


@pytest.fixture(scope="session")
def driver(browser_name):
    if browser_name == "firefox":
        options = webdriver.FirefoxOptions()
        options.add_argument("--width=1024")
        options.add_argument("--height=700")
        session = webdriver.Firefox(options=options)
    else:
        options = webdriver.ChromeOptions()
        options.add_argument("--window-size=1024,700")
        session = webdriver.Chrome(options=options)
    yield session
    session.quit()
