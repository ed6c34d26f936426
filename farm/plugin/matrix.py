"""Farm mode of the pytest plugin, in every process: the matrix, and which browser a cell is.

* Every test is parametrized by `browser_name` (`test_x[chrome]`), and every fixture of that name,
  farm's or the suite's own, of any scope and whatever it reads, yields the cell's browser.
* Under `farm test` (xdist), each worker serves one browser for its whole life and knows it before
  any fixture runs (`FARM_BROWSER`), so session- and module-scoped drivers match every cell the
  worker gets.
* The process that runs cells (an xdist worker, or a plain pytest) also gets
  farm.plugin.worker.cells; xdist's controller gets farm.plugin.controller.scheduling, which hands
  a worker only cells of its browser, longest first.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from farm.core.browser_option import KNOWN_OPTIONS, BrowserOption, parse_browser_option
from farm.core.catalogue import APP_HOST_ALIAS, parse_browsers
from farm.core.errors import ConfigError
from farm.core.matrix import Cell, cell_from
from farm.core.report_files import CELL_LABEL, TEST_LABEL
from farm.core.runfolder import RunFolder
from farm.core.schedule import Planning
from farm.infra.browsers import LocalhostRoute
from farm.plugin.idle import IDLE_NAME, IdleItem

# pytest-selenium's --driver for each farm browser: the local class farm turns into a Grid session
LOCAL_DRIVERS = {"chrome": "Chrome", "firefox": "Firefox", "edge": "Edge"}
NEVER_MATCHES = r"(?!)"


def cell_of(item: pytest.Item) -> Cell:
    callspec = getattr(item, "callspec", None)
    cell = cell_from(item.nodeid, callspec.params if callspec else {}, list(getattr(callspec, "_idlist", []) or []))
    group = xdist_group(item)
    return dataclasses.replace(cell, group=group) if group else cell


def xdist_group(item: pytest.Item) -> str:
    """The name of the test's `@pytest.mark.xdist_group` (as pytest-xdist reads it: first argument or `name`)."""
    marker = item.get_closest_marker("xdist_group")
    if marker is None:
        return ""
    return str(marker.args[0] if marker.args else marker.kwargs.get("name", "default"))


class BaseUrlFixture:
    """`base_url` for suites without pytest-base-url (which, when present, gets the value instead).

    A class-level value and a classmethod fixture: pytest deprecates session fixtures on instances.
    """

    url = ""

    @pytest.fixture(scope="session")
    @classmethod
    def base_url(cls) -> str:
        return cls.url


class BrowserNameFixture:
    """`browser_name`, autouse so every test is a cell of the matrix; session-scoped so a suite's
    session-scoped driver may use it. Its value comes from MatrixPlugin.pytest_fixture_setup, which
    answers for every fixture of that name (this one and a suite's own)."""

    @pytest.fixture(scope="session", autouse=True)
    @classmethod
    def browser_name(cls) -> str:  # pragma: no cover - answered by pytest_fixture_setup
        raise AssertionError("farm answers browser_name in pytest_fixture_setup")


class MatrixPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.browsers = parse_browsers(config.getoption("farm_browsers"))
        self.grid_url = config.getoption("farm_grid_url")
        self.base_url = config.getoption("farm_base_url")
        run_dir = config.getoption("farm_run_dir")
        self.run = RunFolder(Path(run_dir)) if run_dir else None
        # `farm test` decided capacity, durations and shard; the run plans from its one collection.
        self.planning = Planning.load(self.run.planning) if self.run and self.run.planning.exists() else None
        workerinput = getattr(config, "workerinput", {})
        self.worker_id = workerinput.get("workerid", "")
        # A worker's browser is fixed before any fixture runs; without xdist it follows the cell.
        self.worker_browser: str | None = workerinput.get("farm_browser")
        self.current_browser: str | None = self.worker_browser
        self.collected_order: dict[str, int] = {}
        os.environ["FARM_GRID_URL"] = self.grid_url
        os.environ["FARM_BASE_URL"] = self.base_url
        self.browser_options = self._browser_options(config)
        if self.worker_browser:
            os.environ["FARM_BROWSER"] = self.worker_browser
            self.tell_suite(self.worker_browser)
        self._share_base_url(config)
        config.pluginmanager.register(BrowserNameFixture(), "farm-browser-name")
        self.route = self._localhost_route(config)
        # pytest-selenium in use (a --driver given): its own driver stack runs, for the worker's browser
        self.pytest_selenium = config.pluginmanager.hasplugin("selenium") and bool(getattr(config.option, "driver", None))
        if self.pytest_selenium and self.worker_browser:
            config.option.driver = LOCAL_DRIVERS[self.worker_browser]
        if self.worker_id or self.planning is None:  # the process runs cells: an xdist worker, or a plain pytest
            from farm.plugin.worker.cells import WorkerPlugin

            config.pluginmanager.register(WorkerPlugin(self), "farm-worker")
        elif self.run is not None:  # xdist's controller under `farm test`
            from farm.plugin.controller.scheduling import SchedulingPlugin

            config.pluginmanager.register(SchedulingPlugin(self, self.planning, self.run), "farm-scheduling")

    @staticmethod
    def _browser_options(config: pytest.Config) -> list[BrowserOption]:
        """The suite's own browser options: the one the user named, and known plugins' (dash's
        `--webdriver`) where the suite has them with a value of theirs (a `--webdriver` that holds a
        driver's path is someone else's option)."""
        named: list[BrowserOption] = []
        spec = config.getoption("farm_browser_option")
        if spec:
            try:
                named.append(parse_browser_option(spec))
            except ConfigError as exc:
                raise pytest.UsageError(str(exc)) from None
            if named[0].variable is None and not hasattr(config.option, named[0].dest):
                raise pytest.UsageError(
                    f"browser_option {named[0].target}: the suite defines no such pytest option; "
                    "name one it defines, or an environment variable as $NAME"
                )
        known = [o for o in KNOWN_OPTIONS if o.known_in(getattr(config.option, o.dest, None)) and all(o.target != n.target for n in named)]
        return named + known

    def tell_suite(self, browser: str) -> None:
        """Set the suite's own browser options to `browser`, spelled as the suite expects."""
        for option in self.browser_options:
            if option.variable:
                os.environ[option.variable] = option.value(browser)
            else:
                setattr(self.config.option, option.dest, option.value(browser))

    def _share_base_url(self, config: pytest.Config) -> None:
        if config.pluginmanager.hasplugin("base_url"):
            if not getattr(config.option, "base_url", None):
                config.option.base_url = self.base_url
        else:
            BaseUrlFixture.url = self.base_url
            config.pluginmanager.register(BaseUrlFixture(), "farm-base-url")

    @staticmethod
    def _localhost_route(config: pytest.Config) -> LocalhostRoute | None:
        """Where the browsers' localhost goes; FARM_APP_HOST tells the suite where to bind an app
        the browsers reach directly."""
        proxy, app_host = config.getoption("farm_localhost_proxy"), config.getoption("farm_app_host")
        if app_host:
            os.environ["FARM_APP_HOST"] = app_host
        if not proxy:
            return None
        return LocalhostRoute(proxy, tuple(h for h in (proxy.rpartition(":")[0], app_host) if h))

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """pytest-selenium's safety skips every test not marked nondestructive once a base URL is set,
        unless told which URLs are sensitive. An app the farm serves, or one on the runner's localhost,
        is a test environment by construction; a sensitive_url the user set is kept."""
        config = session.config
        if not config.pluginmanager.hasplugin("selenium_safety") or self._sensitive_url_given(config):
            return
        url = self.base_url or str(getattr(config.option, "base_url", "") or "")
        host = urlsplit(url).hostname or ""
        farms_own = {APP_HOST_ALIAS, "localhost", "127.0.0.1", "::1", os.environ.get("FARM_APP_HOST", "")} - {""}
        if not url or host in farms_own:
            config.option.sensitive_url = NEVER_MATCHES

    @staticmethod
    def _sensitive_url_given(config: pytest.Config) -> bool:
        args = [*config.invocation_params.args, *str(config.getini("addopts") or "").split()]
        return bool(os.environ.get("SENSITIVE_URL") or config.getini("sensitive_url") or any("--sensitive-url" in str(a) for a in args))

    # matrix ----------------------------------------------------------------------------------
    def _browser_for(self, request: pytest.FixtureRequest) -> str:
        return str(getattr(request, "param", None) or self.current_browser or self.browsers[0])

    @pytest.hookimpl(tryfirst=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> object | None:
        """Every `browser_name` fixture, of any scope, yields the cell's browser: the suite's own may
        read an option or a variable that farm does not set, and its cells must not lie."""
        if fixturedef.argname != "browser_name":
            return None
        browser = self._browser_for(request)
        fixturedef.cached_result = (browser, fixturedef.cache_key(request), None)  # type: ignore[arg-type]
        return browser

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "browser_name" in metafunc.fixturenames:
            metafunc.parametrize("browser_name", self.browsers, ids=list(self.browsers), indirect=True)

    @pytest.hookimpl(tryfirst=True, specname="pytest_collection_modifyitems")
    def remember_collection_order(self, items: list[pytest.Item]) -> None:
        """`browser_name` is a session-scoped parameter, so pytest regroups the tests by browser (all
        chrome cells, then all firefox). Under xdist that would hand every worker one browser's cells
        first and leave the other browser's slots idle: the order they were collected in is kept."""
        self.collected_order = {item.nodeid: index for index, item in enumerate(items)}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Last, after -k/-m: plan the run (its shard's cells, longest first), label the cells,
        append the idle sentinel."""
        if getattr(config.option, "numprocesses", None) or self.worker_id:
            items.sort(key=lambda item: self.collected_order.get(item.nodeid, len(self.collected_order)))
        plan = self.planning.plan([cell_of(item) for item in items]) if self.planning is not None else None
        if plan is not None and self.run is not None:
            plan.dump(self.run.plan)  # every worker writes the same plan; the controller reads one
            dropped = [item for item in items if item.nodeid not in plan.cells]
            if dropped:
                config.hook.pytest_deselected(items=dropped)
            items[:] = [item for item in items if item.nodeid in plan.cells]
        for item in items:
            # Markers, not dynamic labels: every attempt (reruns) and skipped cells carry them.
            # The browser as parent suite lets a reader look at one browser at a time.
            cell = cell_of(item)
            browser = cell.browser
            item.add_marker(pytest.mark.allure_label(browser, label_type="browser"))
            item.add_marker(pytest.mark.allure_label(cell.test_id, label_type=TEST_LABEL))
            item.add_marker(pytest.mark.allure_label(browser, label_type="parentSuite"))
            item.add_marker(pytest.mark.allure_label(item.nodeid, label_type=CELL_LABEL))
        if plan is not None and items:
            items.append(IdleItem.from_parent(session, name=IDLE_NAME))
