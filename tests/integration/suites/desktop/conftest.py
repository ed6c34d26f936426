"""A suite in a common desktop style: one headed local browser for the whole session, maximized
the way its authors' own machines do it."""

import pytest
from selenium import webdriver


@pytest.fixture(scope="session")
def browser():
    driver = webdriver.Chrome()  # headed; farm makes it the cell's browser on the Grid
    driver.maximize_window()
    yield driver
    driver.quit()
