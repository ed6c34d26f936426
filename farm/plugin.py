"""The farm's pytest plugin (entry point `pytest11: farm`), inert unless `--farm-browsers` is given.

What a suite gets: the fixtures `driver` (a Remote session on the Grid for this cell's browser,
quit after the test), `browser_name` and `base_url`; every test parametrized once per browser;
a PNG screenshot and the page source attached to Allure on every failed or broken cell; and the
environment variables FARM_GRID_URL, FARM_BASE_URL and FARM_BROWSER for suites whose own conftest
defines `driver`. Under `farm test` it also dispatches cells longest-first (farm.dispatch) and
records one line per finished cell (controller side).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import pytest
from selenium import webdriver
from selenium.common.exceptions import SessionNotCreatedException

from farm.browsers import NoSlotLeft, is_infrastructure_error, is_refused, is_session_lost, open_session
from farm.config import parse_browsers
from farm.dispatch import IDLE_NAME, LongestFirstScheduling, is_idle_nodeid
from farm.grid import GridClient
from farm.matrix import Cell, base_test_id
from farm.results import CellState
from farm.schedule import Plan

DRIVER_KEY = pytest.StashKey[webdriver.Remote]()
CELL_KEY = pytest.StashKey[dict[str, Any]]()
LOST_KEY = pytest.StashKey[bool]()
DEFAULT_GRID_URL = "http://127.0.0.1:4444"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("farm", "farm: run every test on every browser through a Selenium Grid")
    group.addoption(
        "--farm-browsers",
        default=os.environ.get("FARM_BROWSERS"),
        help="browsers of the matrix, e.g. chrome,firefox (activates the plugin)",
    )
    group.addoption("--farm-grid-url", default=os.environ.get("FARM_GRID_URL", DEFAULT_GRID_URL), help="Selenium Grid URL")
    group.addoption(
        "--farm-base-url", default=os.environ.get("FARM_BASE_URL", ""), help="URL of the application under test, as the browsers see it"
    )
    group.addoption("--farm-plan", default=None, help="(farm test) dispatch plan: longest-first under per-browser slots")
    group.addoption("--farm-cells", default=None, help="(farm test) write one JSON line per finished cell here")
    group.addoption("--farm-collect", default=None, help="(farm test) write the collected matrix here")
    group.addoption("--farm-artifacts", default=None, help="(farm test) also save failure screenshots in this folder")
    group.addoption("--farm-sessions", default=None, help="(farm test) ledger of Grid sessions opened and quit, for clean-up")
    group.addoption("--farm-dropped", default=None, help="(farm test) write cells that cannot run (no slot left) here, with why")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("farm_browsers"):
        config.pluginmanager.register(MatrixPlugin(config), "farm-matrix")


class IdleItem(pytest.Item):
    """The dispatcher's sentinel: sent after each cell so the worker starts it at once (see farm.dispatch)."""

    def runtest(self) -> None:  # pragma: no cover - never run, the protocol is short-circuited
        pass

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, IDLE_NAME


def cell_of(item: pytest.Item) -> Cell:
    callspec = getattr(item, "callspec", None)
    browser = callspec.params.get("browser_name", "") if callspec else ""
    ids = list(getattr(callspec, "_idlist", []) or [])
    index = max((i for i, pid in enumerate(ids) if pid == browser), default=-1)
    test_id = (
        base_test_id(item.nodeid, ids, index) if index >= 0 else re.sub(rf"-?{re.escape(browser)}\]$", "]", item.nodeid).replace("[]", "")
    )
    return Cell(item.nodeid, test_id, browser)


def artifact_name(nodeid: str) -> str:
    """A file name for a node id: no path separators or odd characters, unique by a short hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid)[-80:].strip("._") or "cell"
    return f"{readable}-{hashlib.sha256(nodeid.encode()).hexdigest()[:8]}"


def failure_kind(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    if "Timeout" in str(excinfo.value) and excinfo.typename == "Failed":
        return "infrastructure"  # pytest-timeout: a hang is the environment's fault until shown otherwise
    if excinfo.errisinstance(AssertionError):
        return "product"
    return "infrastructure" if is_infrastructure_error(excinfo.value) else "test"


class BaseUrlFixture:
    """`base_url` for suites without pytest-base-url (which, when present, gets the value instead).

    A class-level value and a classmethod fixture: pytest deprecates session fixtures on instances.
    """

    url = ""

    @pytest.fixture(scope="session")
    @classmethod
    def base_url(cls) -> str:
        return cls.url


class MatrixPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.browsers = parse_browsers(config.getoption("farm_browsers"))
        self.grid_url = config.getoption("farm_grid_url")
        self.base_url = config.getoption("farm_base_url")
        plan = config.getoption("farm_plan")
        self.plan = Plan.load(Path(plan)) if plan else None
        self.scheduler: LongestFirstScheduling | None = None
        self.worker_id = getattr(config, "workerinput", {}).get("workerid", "")
        artifacts = config.getoption("farm_artifacts")
        self.artifacts = Path(artifacts) if artifacts else None
        ledger = config.getoption("farm_sessions")
        self.ledger = Path(ledger) if ledger else None
        os.environ["FARM_GRID_URL"] = self.grid_url
        os.environ["FARM_BASE_URL"] = self.base_url
        if config.pluginmanager.hasplugin("base_url"):
            if not getattr(config.option, "base_url", None):
                config.option.base_url = self.base_url
        else:
            BaseUrlFixture.url = self.base_url
            config.pluginmanager.register(BaseUrlFixture(), "farm-base-url")
        cells = config.getoption("farm_cells")
        if cells and not self.worker_id:
            config.pluginmanager.register(CellRecorder(Path(cells)), "farm-cell-recorder")

    # matrix ----------------------------------------------------------------------------------
    @pytest.fixture(autouse=True)
    def browser_name(self, request: pytest.FixtureRequest) -> str:
        browser = str(getattr(request, "param", self.browsers[0]))
        os.environ["FARM_BROWSER"] = browser
        return browser

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "browser_name" in metafunc.fixturenames:
            # indirect, so the fixture body runs: it sets the Allure label and FARM_BROWSER
            metafunc.parametrize("browser_name", self.browsers, ids=list(self.browsers), indirect=True)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Last, after -k/-m: keep the plan's cells (a shard), label them, append the idle sentinel."""
        if self.plan is not None:
            dropped = [item for item in items if item.nodeid not in self.plan.cells]
            if dropped:
                config.hook.pytest_deselected(items=dropped)
            items[:] = [item for item in items if item.nodeid in self.plan.cells]
        for item in items:
            # Markers, not dynamic labels: every attempt (reruns) and skipped cells carry them.
            # The browser as parent suite lets a reader look at one browser at a time.
            browser = cell_of(item).browser
            item.add_marker(pytest.mark.allure_label(browser, label_type="browser"))
            item.add_marker(pytest.mark.allure_label(browser, label_type="parentSuite"))
        if self.plan is not None:
            items.append(IdleItem.from_parent(session, name=IDLE_NAME))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        collect = self.config.getoption("farm_collect")
        if collect:
            cells = [cell_of(i).__dict__ for i in session.items if not isinstance(i, IdleItem)]
            Path(collect).write_text(json.dumps(cells), encoding="utf-8")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        if isinstance(item, IdleItem):
            return True
        cell = cell_of(item)
        item.stash[CELL_KEY] = {"test_id": cell.test_id, "browser": cell.browser, "worker": self.worker_id}
        return None

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> LongestFirstScheduling | None:
        if self.plan is None:
            return None
        from xdist.workermanage import parse_tx_spec_config

        dropped = config.getoption("farm_dropped")
        self.scheduler = LongestFirstScheduling(
            len(parse_tx_spec_config(config)),
            self.plan,
            log,
            capacity=GridClient(self.grid_url, timeout=2).slots_now,
            on_drop=(lambda nodeid, reason: append_line(Path(dropped), {"nodeid": nodeid, "reason": reason})) if dropped else None,
        )
        return self.scheduler

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Controller: a lost node or browser may have taken slots with it; re-read the Grid first."""
        failure = dict(report.user_properties).get("farm_failure")
        if self.scheduler is not None and failure and failure.get("kind") == "infrastructure":
            self.scheduler.distrust_limits()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Controller: drop the idle sentinel's results, which allure-pytest writes like any item's."""
        alluredir = getattr(session.config.option, "allure_report_dir", None)
        if self.plan is None or self.worker_id or not alluredir:
            return
        for path in Path(alluredir).glob("*-result.json"):
            with contextlib.suppress(OSError, ValueError):
                if json.loads(path.read_text(encoding="utf-8")).get("name") == IDLE_NAME:
                    path.unlink()

    # the browser session ---------------------------------------------------------------------
    @pytest.fixture
    def driver(self, request: pytest.FixtureRequest, browser_name: str) -> Iterator[webdriver.Remote]:
        if getattr(request.node, "execution_count", 1) > 1:
            self._check_slot_left(browser_name)
        try:
            session = open_session(self.grid_url, browser_name)
        except SessionNotCreatedException as exc:
            if is_refused(exc):
                raise self._no_slot_left(browser_name) from exc
            raise
        self._note_session(session.session_id, "open")
        request.node.stash[DRIVER_KEY] = session
        info = request.node.stash.setdefault(CELL_KEY, {})
        info["browser_version"] = str(session.capabilities.get("browserVersion", ""))
        with contextlib.suppress(Exception):
            info["node"] = GridClient(self.grid_url, timeout=2).session_node(session.session_id)
        try:
            yield session
        finally:
            request.node.stash[DRIVER_KEY] = None  # type: ignore[assignment]
            if request.node.stash.get(LOST_KEY, False):
                # The browser or its node is gone. A live node frees the slot at once on a delete;
                # a dead node's would take the hub's 20 s, so give up after 3 s and note it lost.
                freed = GridClient(self.grid_url, timeout=3).delete_session(session.session_id)
                self._note_session(session.session_id, "quit" if freed else "lost")
            else:
                with contextlib.suppress(Exception):
                    session.quit()
                    self._note_session(session.session_id, "quit")

    def _check_slot_left(self, browser: str) -> None:
        """Before a rerun: fail at once if the Grid has no UP slot for the browser (its queue would wait)."""
        slots = GridClient(self.grid_url, timeout=2).slots_now()
        if slots is not None and slots.get(browser, 0) < 1:
            raise self._no_slot_left(browser)

    def _no_slot_left(self, browser: str) -> NoSlotLeft:
        return NoSlotLeft(f"no {browser} slot left on the grid at {self.grid_url} (its nodes were lost); restore them with `farm up`")

    def _note_session(self, session_id: str, event: str) -> None:
        """One line per session event: if this worker is killed, `farm test` quits what is left open."""
        if self.ledger is not None:
            append_line(self.ledger, {"session": session_id, "event": event})

    # reports ---------------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        report: pytest.TestReport = yield
        info = item.stash.setdefault(CELL_KEY, {})
        if call.when == "setup":
            info["start"] = call.start
            info.pop("screenshot", None)  # a rerun starts clean; earlier attempts keep theirs in Allure
            item.stash[LOST_KEY] = False
        if report.failed and call.excinfo is not None:
            report.user_properties.append(("farm_failure", {"kind": failure_kind(call.excinfo), "message": call.excinfo.exconly()[:500]}))
            if is_session_lost(call.excinfo.value):
                item.stash[LOST_KEY] = True
            else:
                self._capture(item, info)
        if call.when == "teardown":
            info["stop"] = call.stop
            report.user_properties.append(("farm", dict(info)))
        return report

    def _capture(self, item: pytest.Item, info: dict[str, Any]) -> None:
        """Screenshot and page source into Allure before the session is quit; never raises."""
        session = item.stash.get(DRIVER_KEY, None)
        if session is None:
            return
        try:
            png = session.get_screenshot_as_png()
            allure.attach(png, name="screenshot", attachment_type=allure.attachment_type.PNG)
            if self.artifacts is not None:
                self.artifacts.mkdir(parents=True, exist_ok=True)
                path = self.artifacts / f"{artifact_name(item.nodeid)}.png"
                path.write_bytes(png)
                info["screenshot"] = str(path)
        except Exception as exc:
            item.add_report_section("call", "farm", f"WARNING: no screenshot: {type(exc).__name__}: {exc}")
        try:
            allure.attach(session.page_source, name="page source", attachment_type=allure.attachment_type.HTML)
        except Exception as exc:
            item.add_report_section("call", "farm", f"WARNING: no page source: {type(exc).__name__}: {exc}")


def append_line(path: Path, record: dict[str, Any]) -> None:
    """One JSON line, appended and closed at once: a reader never waits for the run to end."""
    with path.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps(record) + "\n")


class CellRecorder:
    """Controller side: one JSON line per finished cell, flushed at once so progress can be followed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.states: dict[str, CellState] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if is_idle_nodeid(report.nodeid):
            return
        state = self.states.setdefault(report.nodeid, CellState())
        if not state.add(report.when, report.outcome, float(getattr(report, "duration", 0.0) or 0.0), dict(report.user_properties)):
            return
        result = self.states.pop(report.nodeid).result(report.nodeid)
        if not result.stop:
            result.stop = time.time()
            result.start = result.start or result.stop - result.duration
        append_line(self.path, result.__dict__)
