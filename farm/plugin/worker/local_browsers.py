"""Local browser classes in farm mode: `webdriver.Chrome()` becomes a Grid session of the cell's
browser that is still an instance of that browser's own class.

A plain Remote driver would lose what suites use the local classes for: Chromium's `get_log`,
`execute_cdp_cmd` and network conditions, Firefox's `install_addon` and `context`, and
`isinstance(driver, webdriver.Firefox)` branches. Each of those is a vendor command of the browser's
driver, which the Grid forwards to the node, so the session is made with that class's own command
set (its remote connection) and its object is of that class (for the cell's browser: a
`webdriver.Chrome()` in a firefox cell is a `webdriver.Firefox`). What a Grid session has no part of,
the local driver service, says so in a message that names farm.
"""

from __future__ import annotations

from typing import Any

from selenium import webdriver
from selenium.webdriver.chromium.remote_connection import ChromiumRemoteConnection
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.firefox.remote_connection import FirefoxRemoteConnection
from selenium.webdriver.remote.remote_connection import RemoteConnection
from selenium.webdriver.remote.webdriver import WebDriver as RemoteDriver

from farm.infra.browsers import ClientConfig

LOCAL_CLASSES: dict[str, type[RemoteDriver]] = {"chrome": webdriver.Chrome, "edge": webdriver.Edge, "firefox": webdriver.Firefox}
CHROMIUM_VENDORS = {"chrome": ("goog", "chrome"), "edge": ("ms", "MicrosoftEdge")}


class NotOnTheGrid(AttributeError):
    """A part of a local browser that a Grid session does not have (an AttributeError, so `hasattr` holds)."""


class GridService:
    """Stands for the local driver service: the Grid node runs the driver, so stopping it is a no-op."""

    def stop(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise NotOnTheGrid(
            f"farm runs this browser on the Selenium Grid: its driver service has no `{name}` here (the node starts and stops the driver)"
        )


def _opened(self: RemoteDriver, *args: Any, **kwargs: Any) -> None:
    """Python calls __init__ after __new__ returns an instance; the session is open by then."""


_GRID_CLASSES: dict[str, type[RemoteDriver]] = {}


def grid_class(browser: str) -> type[RemoteDriver]:
    """The local class of `browser`, made so that constructing it again starts nothing."""
    if browser not in _GRID_CLASSES:
        local = LOCAL_CLASSES[browser]
        namespace = {"__init__": _opened, "__module__": local.__module__, "__qualname__": local.__qualname__}
        _GRID_CLASSES[browser] = type(local.__name__, (local,), namespace)
    return _GRID_CLASSES[browser]


def connection(browser: str, grid_url: str, timeout: int) -> RemoteConnection:
    """The browser's own command set (its vendor commands), sent to the Grid."""
    config = {"client_config": ClientConfig(remote_server_addr=grid_url, timeout=timeout)} if ClientConfig is not None else {}
    if browser in CHROMIUM_VENDORS:
        vendor, name = CHROMIUM_VENDORS[browser]
        return ChromiumRemoteConnection(grid_url, vendor, name, True, False, **config)
    return FirefoxRemoteConnection(grid_url, True, False, **config)


def grid_browser(browser: str, grid_url: str, options: ArgOptions, timeout: int = 120) -> RemoteDriver:
    """A Grid session of `browser` whose object is that browser's local class."""
    driver = object.__new__(grid_class(browser))  # not cls(...): __new__ is farm's, and __init__ would start a service
    driver.service = GridService()  # type: ignore[attr-defined]
    driver.profile = None  # selenium 4.0's Firefox.quit removes a local profile folder when it has one  # type: ignore[attr-defined]
    RemoteDriver.__init__(driver, command_executor=connection(browser, grid_url, timeout), options=options)
    return driver
