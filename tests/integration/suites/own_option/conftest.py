"""A suite that picks its code paths from its own options, as dash's pytest plugin does with
`--webdriver Chrome|Firefox`, and from an option of its own."""

import pytest
from selenium import webdriver


def pytest_addoption(parser):
    parser.addoption("--webdriver", choices=("Chrome", "Firefox"), default="Chrome", help="as dash[testing] declares it")
    parser.addoption("--browser", default="chrome", help="the suite's own")


@pytest.fixture(scope="session")
def ui(request):
    kind = request.config.getoption("webdriver")
    options = webdriver.ChromeOptions() if kind == "Chrome" else webdriver.FirefoxOptions()
    options.add_argument("--headless=new" if kind == "Chrome" else "-headless")
    driver = getattr(webdriver, kind)(options=options)
    yield driver
    driver.quit()


@pytest.fixture
def console(ui, request):
    """The suite's Chrome-only code path: the browser log through Chrome's own API."""
    if request.config.getoption("webdriver") == "Chrome":
        return lambda: [entry["message"] for entry in ui.get_log("browser")]
    return lambda: []
