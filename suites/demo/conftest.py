"""The demo suite runs under `farm test`; the farm plugin provides driver, browser_name and base_url."""

import pytest
from selenium.webdriver.support.ui import WebDriverWait


@pytest.fixture
def wait(driver):
    """An explicit wait long enough for the app's slowest timer."""
    return WebDriverWait(driver, 30)
