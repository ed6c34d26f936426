"""A suite that always builds a Remote Chrome session, whatever the cell's browser."""

import os

from selenium import webdriver


def test_always_chrome():
    session = webdriver.Remote(command_executor=os.environ["FARM_GRID_URL"], options=webdriver.ChromeOptions())
    try:
        assert session.capabilities["browserName"] == "chrome"
    finally:
        session.quit()
