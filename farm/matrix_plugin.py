"""Farm mode of the pytest plugin: the matrix, one browser per worker, and truthful cells.

* Every test is parametrized by `browser_name` (`test_x[chrome]`), and every fixture of that name,
  farm's or the suite's own, of any scope and whatever it reads, yields the cell's browser.
* Under `farm test` (xdist), each worker serves one browser for its whole life and knows it before
  any fixture runs (`FARM_BROWSER`), so session- and module-scoped drivers match every cell the
  worker gets. The dispatcher (farm.dispatch) hands a worker only cells of its browser, longest first.
* Every WebDriver session is watched (farm.sessions): a session of another browser fails its cell
  as `identity`; the Grid's browser, version and node are recorded per cell; local browsers become
  Grid sessions; a failed or broken cell gets a screenshot and page source from whatever session it used.
* Failures are classified by type and phase (farm.failures), and the class is written into the
  report's text, where Allure's categories find it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import allure
import execnet
import pytest
from selenium import webdriver
from selenium.common.exceptions import SessionNotCreatedException, WebDriverException

from farm.browser_socket import BrowserSocketError
from farm.browsers import LocalhostRoute, NoSlotLeft, is_refused, open_session
from farm.catalogue import APP_HOST_ALIAS, parse_browsers
from farm.console import as_text, counts
from farm.dispatch import IDLE_NAME, LongestFirstScheduling, is_idle_nodeid
from farm.failures import classify, is_session_lost, marker
from farm.grid import GridClient
from farm.isolation import KeptBrowser, leaks, probe_site, uses_cdp
from farm.matrix import Cell, cell_from
from farm.recording import Recorder, Recording
from farm.report_files import CELL_LABEL
from farm.results import CellState
from farm.runfolder import RunFolder, append_line
from farm.schedule import Plan, Planning, relative_costs
from farm.sessions import SessionWatch

CELL_KEY = pytest.StashKey[dict[str, Any]]()
# pytest-selenium's --driver for each farm browser: the local class farm turns into a Grid session
LOCAL_DRIVERS = {"chrome": "Chrome", "firefox": "Firefox", "edge": "Edge"}
NEVER_MATCHES = r"(?!)"
LOST_KEY = pytest.StashKey[bool]()


class CellTimeout(Exception):
    """The cell ran over `--timeout` (raised by farm's pytest-timeout timer): a hang, not a verdict."""


class PageErrors(AssertionError):
    """(--fail-on-console-error) the page raised uncaught JavaScript errors: the product is wrong."""


class IdleItem(pytest.Item):
    """The dispatcher's sentinel: sent after each cell so the worker starts it at once (see farm.dispatch)."""

    def runtest(self) -> None:  # pragma: no cover - never run, the protocol is short-circuited
        pass

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, IDLE_NAME


def cell_of(item: pytest.Item) -> Cell:
    callspec = getattr(item, "callspec", None)
    return cell_from(item.nodeid, callspec.params if callspec else {}, list(getattr(callspec, "_idlist", []) or []))


def artifact_name(nodeid: str) -> str:
    """A file name for a node id: no path separators or odd characters, unique by a short hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid)[-80:].strip("._") or "cell"
    return f"{readable}-{hashlib.sha256(nodeid.encode()).hexdigest()[:8]}"


def assign_browser(slots: dict[str, int], assigned: Counter[str]) -> str:
    """The browser a new worker serves: the one furthest below its slot count (plan order on ties)."""
    return max(slots, key=lambda b: (slots[b] - assigned[b], -list(slots).index(b)))


def first_browsers(slots: dict[str, int], count: int, costs: Mapping[str, float]) -> list[str]:
    """The browsers of a run's first `count` workers, in the order xdist starts them: as many of
    each as assign_browser gives, the browser with the most work per worker first (`costs`: a
    cell's cost per browser). xdist starts its workers one after another and on 2 cores the last
    collected up to 0.9 s after the first; alternating the browsers gave the busiest browser, whose
    last cell ends the run, one of the late ones."""
    interleaved: list[str] = []
    for _ in range(count):
        interleaved.append(assign_browser(slots, Counter(interleaved)))
    workers = Counter(interleaved)
    return sorted(interleaved, key=lambda b: -costs.get(b, 1.0) / workers[b])  # stable: ties stay interleaved


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
        # `farm test` decided capacity, history and shard; the run plans from its one collection.
        self.planning = Planning.load(self.run.planning) if self.run and self.run.planning.exists() else None
        self.scheduler: LongestFirstScheduling | None = None
        workerinput = getattr(config, "workerinput", {})
        self.worker_id = workerinput.get("workerid", "")
        # A worker's browser is fixed before any fixture runs; without xdist it follows the cell.
        self.worker_browser: str | None = workerinput.get("farm_browser")
        self.current_browser: str | None = self.worker_browser
        self.assigned: dict[Any, str] = {}  # controller: worker node -> browser
        self.wanted: list[str] = []  # controller: browsers of workers being started for the scheduler
        self.first: list[str] = self._first_browsers()  # controller: browsers of the first workers, in start order
        self.collected_order: dict[str, int] = {}
        os.environ["FARM_GRID_URL"] = self.grid_url
        os.environ["FARM_BASE_URL"] = self.base_url
        if self.worker_browser:
            os.environ["FARM_BROWSER"] = self.worker_browser
        self._share_base_url(config)
        config.pluginmanager.register(BrowserNameFixture(), "farm-browser-name")
        self.route = self._localhost_route(config)
        # pytest-selenium in use (a --driver given): its own driver stack runs, for the worker's browser
        self.pytest_selenium = config.pluginmanager.hasplugin("selenium") and bool(getattr(config.option, "driver", None))
        if self.pytest_selenium and self.worker_browser:
            config.option.driver = LOCAL_DRIVERS[self.worker_browser]
        if not self.pytest_selenium:
            config.pluginmanager.register(FarmDriver(self), "farm-driver")
        self.video = str(config.getoption("farm_video"))
        self.fail_on_page_errors = bool(config.getoption("farm_fail_on_console_error"))
        runs_tests = bool(self.worker_id) or self.planning is None  # xdist workers, or a plain pytest
        self.recorder = self._recorder(config) if runs_tests else None
        self.watch = SessionWatch(
            self.grid_url, lambda: self.current_browser, self._note_session, self._keep_evidence, self.route, self.recorder
        )
        self.kept_evidence: tuple[bytes, str] | None = None  # from a session quit while the cell was failing
        if runs_tests:
            self.watch.install()
        if self.run and self.planning is not None and not self.worker_id:
            config.pluginmanager.register(CellRecorder(self.run.cells), "farm-cell-recorder")

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

    def _recorder(self, config: pytest.Config) -> Recorder | None:
        raw = config.getoption("farm_recorder")
        if self.video == "off" or not raw:
            return None
        where = json.loads(raw)
        return Recorder.connect(where.get("docker_host"), dict(where.get("nodes") or {}))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.watch.uninstall()
        if self.recorder is not None:
            self.recorder.close()

    def _note_session(self, event: str, record: dict[str, Any]) -> None:
        """The run's ledger: if this worker is killed, `farm test` ends the sessions it left open."""
        if self.run is not None:
            append_line(self.run.sessions, {**record, "event": event, "worker": self.worker_id})

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
            browser = cell_of(item).browser
            item.add_marker(pytest.mark.allure_label(browser, label_type="browser"))
            item.add_marker(pytest.mark.allure_label(browser, label_type="parentSuite"))
            item.add_marker(pytest.mark.allure_label(item.nodeid, label_type=CELL_LABEL))
        if plan is not None and items:
            items.append(IdleItem.from_parent(session, name=IDLE_NAME))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        if isinstance(item, IdleItem):
            return True
        cell = cell_of(item)
        if self.worker_browser and cell.browser != self.worker_browser:
            raise RuntimeError(f"farm: {item.nodeid} was sent to a {self.worker_browser} worker")  # a dispatcher bug
        self.current_browser = cell.browser
        if not self.worker_browser:
            os.environ["FARM_BROWSER"] = cell.browser
        item.stash[CELL_KEY] = {"test_id": cell.test_id, "browser": cell.browser, "worker": self.worker_id}
        return None

    # workers (controller side) ---------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)  # xdist's: absent with -p no:xdist
    def pytest_configure_node(self, node: Any) -> None:
        """A worker the scheduler asked for serves the browser it was asked for; any other (the
        first ones, in `first_browsers` order; one replacing a crashed worker) the browser shortest
        of workers."""
        if self.planning is None:
            return
        if self.wanted:
            browser = self.wanted.pop(0)
            node.workerinput["farm_spawned"] = True
        elif self.first:
            browser = self.first.pop(0)
        else:
            browser = assign_browser(self.planning.capacity.slots, Counter(self.assigned.values()))
        self.assigned[node] = browser
        node.workerinput["farm_browser"] = browser

    def _first_browsers(self) -> list[str]:
        if self.planning is None or self.worker_id:
            return []
        slots = self.planning.capacity.slots
        return first_browsers(slots, self.planning.capacity.first_workers(), relative_costs(self.planning.history, list(slots)))

    def _spawn_worker(self, browser: str) -> bool:
        """Start one more xdist worker, serving `browser`, the way xdist replaces a crashed one (its
        node manager sets it up from a copy of a worker's spec and it joins the session's event
        queue); xdist has no public call for that. False when this xdist has no such parts."""
        dsession = self.config.pluginmanager.getplugin("dsession")
        template = next(iter(self.assigned), None)
        manager = getattr(dsession, "nodemanager", None)
        if template is None or manager is None or not hasattr(dsession, "_active_nodes") or getattr(dsession, "shuttingdown", True):
            return False
        self.wanted.append(browser)
        try:
            spec = execnet.XSpec(template.gateway.spec._spec)
            manager.group.allocate_id(spec)
            node = manager.setup_node(spec, dsession.queue.put)
        except Exception:  # a worker that cannot start (or an xdist built otherwise) leaves the run as it was
            self.wanted.clear()
            return False
        dsession._active_nodes.add(node)
        return True

    @pytest.hookimpl(optionalhook=True)  # xdist's: absent with -p no:xdist
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A crashed worker's browser goes to its replacement; one that finished keeps its place, so a
        replacement for another browser's crash is never given a browser whose work is done."""
        if error:
            self.assigned.pop(node, None)
        elif self.scheduler is not None and not self._stopping(node):
            self.scheduler.worker_finished(node)

    def _stopping(self, node: Any) -> bool:
        """Is the run being stopped (Ctrl-C, -x, --maxfail), so that nothing new may start?"""
        output = getattr(node, "workeroutput", None) or {}
        dsession = self.config.pluginmanager.getplugin("dsession")
        interrupted = output.get("exitstatus") == 2 or bool(output.get("shouldstop") or output.get("shouldfail"))
        return interrupted or getattr(dsession, "shuttingdown", False)

    @pytest.hookimpl(optionalhook=True)  # xdist's: absent with -p no:xdist
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> LongestFirstScheduling | None:
        if self.planning is None or self.run is None:
            return None
        dropped, plan = self.run.dropped, self.run.plan
        self.scheduler = LongestFirstScheduling(
            lambda collection: Plan.load(plan),
            self.planning.capacity,
            log,
            capacity=GridClient(self.grid_url, timeout=2).capacity_now,
            on_drop=lambda nodeid, reason: append_line(dropped, {"nodeid": nodeid, "reason": reason}),
            spawn=self._spawn_worker,
            first_workers=len(self.assigned),
        )
        return self.scheduler

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Controller: sessions a worker keeps between cells occupy slots; a lost node may have taken
        slots with it, so an infrastructure failure re-reads the Grid first."""
        if self.scheduler is None:
            return
        props = dict(report.user_properties)
        failure = props.get("farm_failure")
        if failure and failure.get("kind") == "infrastructure":
            self.scheduler.distrust_limits()
        if report.when == "teardown" and hasattr(report, "node"):
            farm = props.get("farm") or {}
            self.scheduler.note_held(report.node, int(farm.get("held", 0)))
            self.scheduler.note_opened(str(farm.get("browser", "")), [float(s) for s in farm.get("opened", [])])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Controller: drop the idle sentinel's results, which allure-pytest writes like any item's."""
        alluredir = getattr(session.config.option, "allure_report_dir", None)
        if self.planning is None or self.worker_id or not alluredir:
            return
        for path in Path(alluredir).glob("*-result.json"):
            with contextlib.suppress(OSError, ValueError):
                if json.loads(path.read_text(encoding="utf-8")).get("name") == IDLE_NAME:
                    path.unlink()

    # timeouts --------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True, optionalhook=True)  # pytest-timeout's
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> bool | None:
        """pytest-timeout's signal timer, raising CellTimeout: a hang is graded by its type, not its words."""
        if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
            return None  # pytest-timeout's own (thread) timer

        def expire(signum: int, frame: object) -> None:
            raise CellTimeout(f"Timeout (>{settings.timeout:g}s): the cell hung and was stopped")

        def cancel() -> None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)

        item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout's cancel hook calls it
        signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, settings.timeout)
        return True

    # reports ---------------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        """Innermost wrapper: the class marker is in the report before allure-pytest reads its text."""
        report: pytest.TestReport = yield
        info = item.stash.setdefault(CELL_KEY, {})
        if call.when == "setup":
            info["start"] = call.start
            self.kept_evidence = None
            for key in ("screenshot", "videos", "failed_now"):
                info.pop(key, None)  # a rerun starts clean; earlier attempts keep theirs in Allure
            item.stash[LOST_KEY] = False
        if report.failed:
            info["failed_now"] = True
        if report.failed and call.excinfo is not None:
            failure = classify(call.excinfo.value, call.when)
            report.user_properties.append(("farm_failure", asdict(failure)))
            if hasattr(report.longrepr, "addsection"):
                report.longrepr.addsection("farm", marker(failure.kind))  # type: ignore[union-attr]
            if is_session_lost(call.excinfo.value):
                item.stash[LOST_KEY] = True
            else:
                self._capture(item, info)
        if call.when == "teardown":
            info["stop"] = call.stop
            used = self.watch.used_between(info.get("start", call.start), call.stop)
            info["sessions"] = [s.summary() for s in used]
            if used:
                info["browser_version"], info["node"] = used[0].version, used[0].node
            info["held"] = len(self.watch.open_sessions())
            info["opened"], self.watch.open_seconds = self.watch.open_seconds, []  # what a new session costs
            problems = self._page_evidence(item, info, info.get("start", call.start), call.stop, bool(info.pop("failed_now", False)))
            if problems:
                report.sections.append(("farm", "WARNING: " + "\nWARNING: ".join(problems)))
            report.user_properties.append(("farm", dict(info)))
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        """--fail-on-console-error: a test body that passed fails if its page threw uncaught errors."""
        result = yield
        if self.fail_on_page_errors:
            start = item.stash.get(CELL_KEY, {}).get("start", 0.0)
            uncaught = [e for e in self.watch.console_between(start, time.time()) if e.uncaught]
            if uncaught:
                raise PageErrors(f"{len(uncaught)} uncaught page error(s): " + "; ".join(e.text for e in uncaught[:3]))
        return result

    def _page_evidence(self, item: pytest.Item, info: dict[str, Any], start: float, stop: float, failed: bool) -> list[str]:
        """The end of an attempt: console counts for every cell, the console text for a failing one,
        and its share of the recordings, kept or deleted by --video. Returns why evidence is missing."""
        entries = self.watch.console_between(start, stop)
        info.update(counts(entries))
        problems, self.watch.problems = self.watch.problems, []
        if failed and entries:
            allure.attach(as_text(entries), name="console", attachment_type=allure.attachment_type.TEXT)
        recordings = self.watch.cut_recordings(start, stop)
        keep = self.video == "all" or (self.video == "failed" and failed)
        for recording in recordings:
            self._keep_video(item, info, recording) if keep else self.recorder.discard(recording)  # type: ignore[union-attr]
            if recording.error:
                problems.append(f"no video for session {recording.session}: {recording.error}")
        return problems if failed or keep else []

    def _keep_video(self, item: pytest.Item, info: dict[str, Any], recording: Recording) -> None:
        if self.run is None or self.recorder is None:
            return
        videos = info.setdefault("videos", [])
        suffix = f"-{len(videos) + 1}" if videos else ""
        path = self.recorder.keep(recording, self.run.videos / f"{artifact_name(item.nodeid)}{suffix}.webm")
        if path is not None:
            allure.attach.file(str(path), name="video", attachment_type=allure.attachment_type.WEBM)
            videos.append(str(path))

    def _keep_evidence(self, session: webdriver.Remote) -> None:
        """A session is quit while an exception propagates: keep what it shows for the cell's report."""
        self.kept_evidence = (session.get_screenshot_as_png(), session.page_source)

    def _capture(self, item: pytest.Item, info: dict[str, Any]) -> None:
        """Screenshot and page source into Allure from the session the cell used (or, if the test quit
        it on its way out, what it showed then); never raises."""
        session = self.watch.live_driver(info.get("start", 0.0))
        kept, self.kept_evidence = self.kept_evidence, None
        if session is None and kept is None:
            return
        try:
            png = session.get_screenshot_as_png() if session is not None else kept[0]  # type: ignore[index]
            allure.attach(png, name="screenshot", attachment_type=allure.attachment_type.PNG)
            if self.run is not None:
                self.run.screenshots.mkdir(parents=True, exist_ok=True)
                path = self.run.screenshots / f"{artifact_name(item.nodeid)}.png"
                path.write_bytes(png)
                info["screenshot"] = str(path)
        except Exception as exc:
            item.add_report_section("call", "farm", f"WARNING: no screenshot: {type(exc).__name__}: {exc}")
        try:
            source = session.page_source if session is not None else kept[1]  # type: ignore[index]
            allure.attach(source, name="page source", attachment_type=allure.attachment_type.HTML)
        except Exception as exc:
            item.add_report_section("call", "farm", f"WARNING: no page source: {type(exc).__name__}: {exc}")


class FarmIsolationWarning(UserWarning):
    """--isolation context could not be proven for a browser: its cells get fresh sessions."""


class FarmDriver:
    """Farm's own `driver`: a Grid session for the cell's browser, headless, with farm's handling of
    lost nodes; with --isolation context, a kept session and a fresh user context per cell
    (farm.isolation). Not registered when the suite uses pytest-selenium, whose own driver stack runs."""

    def __init__(self, plugin: MatrixPlugin) -> None:
        self.plugin = plugin
        self.isolation = str(plugin.config.getoption("farm_isolation"))
        self.kept: dict[str, KeptBrowser] = {}
        self.proven: set[str] = set()
        self.fallback: dict[str, str] = {}  # browser -> why its cells get fresh sessions
        self.resources = contextlib.ExitStack()
        self.probe_url: str | None = None
        self.probe_ready = False

    @pytest.fixture
    def driver(self, request: pytest.FixtureRequest, browser_name: str) -> Iterator[webdriver.Remote]:
        info = request.node.stash.setdefault(CELL_KEY, {})
        kept = self._kept(request, browser_name) if self.isolation == "context" and browser_name not in self.fallback else None
        if kept is not None:
            try:
                driver = kept.begin_cell()
            except BrowserSocketError:  # the kept browser is gone: this cell, and the next, get a new one
                self._drop(browser_name)
            else:
                info["isolation"] = "context"
                yield driver
                self._end_context(request, browser_name, kept)
                return
        info["isolation"] = "session"
        yield from self._fresh_session(request, browser_name)

    # a fresh session per cell ------------------------------------------------------------------
    def _fresh_session(self, request: pytest.FixtureRequest, browser_name: str) -> Iterator[webdriver.Remote]:
        session = self._open(request, browser_name)
        try:
            yield session
        finally:
            if not self._end_if_lost(request, session):
                with contextlib.suppress(Exception):
                    session.quit()

    def _open(self, request: pytest.FixtureRequest, browser: str, bidi: bool = False) -> webdriver.Remote:
        if getattr(request.node, "execution_count", 1) > 1:
            self._check_slot_left(browser)
        try:
            return open_session(self.plugin.grid_url, browser, bidi=bidi)
        except SessionNotCreatedException as exc:
            if is_refused(exc):
                raise self._no_slot_left(browser) from exc
            raise

    def _end_if_lost(self, request: pytest.FixtureRequest, session: webdriver.Remote) -> bool:
        """The browser or its node is gone. A live node frees the slot at once on a delete; a dead
        node's would take the hub's 20 s, so give up after 3 s and note it lost."""
        if not request.node.stash.get(LOST_KEY, False):
            return False
        freed = GridClient(self.plugin.grid_url, timeout=3).delete_session(session.session_id)
        self.plugin.watch.mark_lost(session.session_id, freed)
        return True

    # a kept session, a user context per cell ---------------------------------------------------
    def _kept(self, request: pytest.FixtureRequest, browser: str) -> KeptBrowser | None:
        """This worker's session for `browser`, proven to isolate cells; None: fall back (and say why)."""
        kept = self.kept.get(browser)
        if kept is not None and kept.driver.session_id in {s.id for s in self.plugin.watch.open_sessions()}:
            return kept
        self._drop(browser)
        session = self._open(request, browser, bidi=not uses_cdp(browser))
        try:
            kept = KeptBrowser(session, self.plugin.grid_url)
            why = "" if browser in self.proven else self._disproof(kept)
        except (BrowserSocketError, WebDriverException) as exc:  # the probe itself failed: nothing is proven
            why = f"its user contexts failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        if why:
            with contextlib.suppress(Exception):
                session.quit()
            self.fallback[browser] = why
            warnings.warn(FarmIsolationWarning(f"{browser}: a fresh session per cell, as {why}"), stacklevel=2)
            return None
        self.proven.add(browser)
        self.kept[browser] = kept
        return kept

    def _disproof(self, kept: KeptBrowser) -> str:
        """'' when the probe saw nothing of one context from the next; else why isolation is unproven."""
        if not self.probe_ready:
            self.probe_url = self.resources.enter_context(probe_site(os.environ.get("FARM_APP_HOST")))
            self.probe_ready = True
        if self.probe_url is None:
            return "isolation cannot be proven without an address the browsers reach this runner at (farm's own grid has one)"
        seen = leaks(kept, self.probe_url)
        return f"state leaked from one user context into the next: {', '.join(seen)}" if seen else ""

    def _end_context(self, request: pytest.FixtureRequest, browser: str, kept: KeptBrowser) -> None:
        if self._end_if_lost(request, kept.driver):
            self.kept.pop(browser, None)
            kept.socket.close()
            return
        try:
            kept.end_cell()
        except Exception:  # the test quit the browser, or it hung: the next cell gets a new one
            self._drop(browser)

    def _drop(self, browser: str) -> None:
        kept = self.kept.pop(browser, None)
        if kept is not None:
            kept.close()

    def pytest_sessionfinish(self) -> None:
        for kept in self.kept.values():
            kept.close()
        self.kept.clear()
        self.resources.close()

    def _check_slot_left(self, browser: str) -> None:
        """Before a rerun: fail at once if the Grid has no UP slot for the browser (its queue would wait)."""
        capacity = GridClient(self.plugin.grid_url, timeout=2).capacity_now()
        if capacity is not None and capacity.slots.get(browser, 0) < 1:
            raise self._no_slot_left(browser)

    def _no_slot_left(self, browser: str) -> NoSlotLeft:
        return NoSlotLeft(
            f"no {browser} slot left on the grid at {self.plugin.grid_url} (its nodes were lost); restore them with `farm up`"
        )


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
