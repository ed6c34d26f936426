"""The farm's pytest plugin entry point (`pytest11: farm`): options only, inert unless farm mode is on.

Installing farm must never break plain `pytest`, whatever selenium the suite pins: this module
imports pytest and the standard library only. With `--farm-browsers` (which `farm test` passes),
it loads farm.plugin.matrix, which brings selenium, allure and, per process, the worker or controller side.
"""

from __future__ import annotations

import os

import pytest

DEFAULT_GRID_URL = "http://127.0.0.1:4444"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("farm", "farm: run every test on every browser through a Selenium Grid")
    group.addoption(
        "--farm-browsers",
        default=None,  # never from the environment: FARM_BROWSERS configures `farm test`, and plain pytest stays inert
        help="browsers of the matrix, e.g. chrome,firefox (activates the plugin)",
    )
    group.addoption("--farm-grid-url", default=os.environ.get("FARM_GRID_URL", DEFAULT_GRID_URL), help="Selenium Grid URL")
    group.addoption(
        "--farm-base-url", default=os.environ.get("FARM_BASE_URL", ""), help="URL of the application under test, as the browsers see it"
    )
    group.addoption("--farm-run-dir", default=None, help="(farm test) the run folder: plan, cell results, session ledger")
    group.addoption(
        "--farm-localhost-proxy",
        default=os.environ.get("FARM_LOCALHOST_PROXY"),
        help="HOST:PORT of the proxy that takes the browsers' localhost to the test runner's",
    )
    group.addoption(
        "--farm-app-host",
        default=os.environ.get("FARM_APP_HOST"),
        help="address the browsers reach the test runner at directly (an app bound there needs no proxy)",
    )
    group.addoption(
        "--farm-video",
        default="off",
        choices=("off", "failed", "all"),
        help="(farm test) keep a video of failed and broken cells, or of every cell; needs --farm-recorder",
    )
    group.addoption(
        "--farm-recorder",
        default=None,
        help="(farm test) JSON: the Docker engine and node containers that record sessions",
    )
    group.addoption(
        "--farm-browser-option",
        default=None,
        help="(farm test) the suite's own browser option or variable, set per cell: --NAME or $VAR[=chrome:VALUE,...]",
    )
    group.addoption(
        "--farm-isolation",
        default="session",
        choices=("session", "context"),
        help="farm's own driver: a fresh session per cell (plain pytest's default: xdist does not count the sessions idle "
        "workers keep), or a kept session and a fresh user context per cell (farm test's default)",
    )
    group.addoption(
        "--farm-fail-on-console-error",
        action="store_true",
        default=False,
        help="a cell whose page raised an uncaught JavaScript error fails",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("farm_browsers"):
        from farm.core.errors import UsageError
        from farm.core.supported import check_supported

        try:
            check_supported()  # before farm.plugin.matrix imports selenium: an old one would fail there
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        from farm.plugin.matrix import MatrixPlugin

        config.pluginmanager.register(MatrixPlugin(config), "farm-matrix")
