"""Local browser classes turned into Grid sessions keep their class (pure parts: no session opened)."""

from __future__ import annotations

import pytest
from selenium import webdriver

from farm.plugin.worker.local_browsers import GridService, NotOnTheGrid, connection, grid_class


@pytest.mark.parametrize("browser, local", [("chrome", webdriver.Chrome), ("edge", webdriver.Edge), ("firefox", webdriver.Firefox)])
def test_the_grid_class_is_the_local_class_and_constructing_it_starts_nothing(browser, local):
    cls = grid_class(browser)
    assert issubclass(cls, local) and cls is grid_class(browser)
    assert (cls.__name__, cls.__module__) == (local.__name__, local.__module__)  # repr and type checks read as the local class
    driver = object.__new__(cls)
    driver.__init__(options=None)  # what Python does after farm's __new__: no service, no session
    assert not hasattr(driver, "session_id")


def test_a_chromium_connection_carries_the_vendor_commands_and_firefox_its_own():
    chrome = connection("chrome", "http://127.0.0.1:4444", 30)
    assert chrome._commands["executeCdpCommand"][1] == "/session/$sessionId/goog/cdp/execute"
    assert connection("edge", "http://127.0.0.1:4444", 30)._commands["executeCdpCommand"][1] == "/session/$sessionId/ms/cdp/execute"
    assert "INSTALL_ADDON" in connection("firefox", "http://127.0.0.1:4444", 30)._commands


def test_the_driver_service_is_not_here_and_says_farm():
    service = GridService()
    service.stop()  # what a local class's quit calls
    assert not hasattr(service, "process")
    with pytest.raises(NotOnTheGrid, match="farm runs this browser on the Selenium Grid"):
        service.service_url  # noqa: B018
