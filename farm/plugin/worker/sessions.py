"""Every WebDriver session a farm worker opens, whoever opens it: farm's `driver`, a suite's own
fixture (of any scope), pytest-selenium, or a local `webdriver.Chrome()` turned into a Grid session.

Installed only in farm mode (it imports selenium). It wraps `WebDriver.start_session` and
`WebDriver.quit`, the one path every Remote and local driver takes, so that:

* each session request is cleaned (keys the Grid refuses, such as a legacy `marionette`) and kept
  offline (background networking off), the way farm's own options are;
* each new session is checked against the browser its cell is labelled with; a session of another
  browser is quit at once and the cell fails with `WrongBrowser`, so no cell can pass on a browser
  it was not labelled with;
* the browser, version and Grid node the Grid reported are kept per session, for the summary;
* the run's ledger gets a line per session opened and quit, so `farm test` can end the sessions of
  a killed worker;
* a failed cell's screenshot comes from whichever session it used;
* each session's page console is read (CDP on Chromium, BiDi on Firefox: farm.plugin.worker.console), and, with
  a recorder, its display is recorded (farm.plugin.worker.recording) and cut at each cell's end. The listener
  attaches while the session's first command runs; its second command waits until it is in, so no
  document but the first can come and go unheard (the first one's console is replayed to it).

Local browsers: in farm mode `webdriver.Chrome(...)`, `Firefox(...)` and `Edge(...)` (and plugins
that call them) return a Grid session for the cell's browser that is an object of that browser's own
class, with its vendor commands (farm.plugin.worker.local_browsers); their options are translated
(farm.infra.browsers.translate_options) and what does not carry over is reported.
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import UnexpectedAlertPresentException
from selenium.webdriver.chromium.webdriver import ChromiumDriver
from selenium.webdriver.firefox.webdriver import WebDriver as FirefoxDriver
from selenium.webdriver.remote.command import Command
from selenium.webdriver.remote.webdriver import WebDriver as RemoteDriver

from farm.core.catalogue import farm_name_of
from farm.infra.browsers import (
    KEEP_PROMPTS,
    LocalhostRoute,
    clean_capabilities,
    harden_capabilities,
    prompt_handler,
    reachable_sockets,
    translate_options,
)
from farm.infra.grid import GridClient
from farm.plugin.worker.console import ConsoleEntry, ConsoleListener, listen
from farm.plugin.worker.file_pages import NO_ROUTE, FilePageRefused, FilePages
from farm.plugin.worker.local_browsers import grid_browser
from farm.plugin.worker.prompts import meet_prompt
from farm.plugin.worker.recording import Recorder, Recording


class WrongBrowser(Exception):
    """A cell's session is not the browser the cell is labelled with."""


class FarmOptionsWarning(UserWarning):
    """Options of a suite's own driver that do not carry over to the Grid session were dropped."""


@dataclass
class WatchedSession:
    id: str
    browser: str  # farm name of the browser the Grid reported
    version: str
    node: str
    opened: float
    closed: float | None = None
    lost: bool = False
    driver: Callable[[], RemoteDriver | None] = field(default=lambda: None, repr=False)
    console: ConsoleListener | None = field(default=None, repr=False)
    recordings: list[Recording] = field(default_factory=list)  # not yet handed to a cell; the last may be running

    def summary(self) -> dict[str, str]:
        return {"id": self.id, "browser": self.browser, "version": self.version, "node": self.node}

    def alive_during(self, start: float, stop: float) -> bool:
        return self.opened <= stop and (self.closed is None or self.closed >= start)


Expected = Callable[[], str | None]  # the browser the current cell is labelled with (None: no cell)
Note = Callable[[str, dict[str, Any]], None]  # (event, record) for the run's session ledger
Evidence = Callable[[RemoteDriver], None]  # take a screenshot and the page source of a session


class SessionWatch:
    """Observes (and, for local browsers, redirects) every session of this process."""

    def __init__(
        self,
        grid_url: str,
        expected: Expected,
        note: Note | None = None,
        evidence: Evidence | None = None,
        route: LocalhostRoute | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.grid_url = grid_url
        self.recorder = recorder
        self.problems: list[str] = []  # why a console or a recording is missing, for the cell's report
        self.route = route
        self.expected = expected
        self.note = note or (lambda event, record: None)
        self.evidence = evidence
        self.sessions: dict[str, WatchedSession] = {}
        self.open_seconds: list[float] = []  # how long opening each session took, until the plugin reads them
        self.settling: dict[str, int] = {}  # sessions whose console is attaching: commands sent since they opened
        self.files: FilePages | None = None  # the runner's file:// pages, served through the localhost route
        self.prompts: dict[str, str] = {}  # sessions whose prompts farm keeps open: the handler the suite asked for
        self._saved: list[tuple[type, str, Any]] = []

    # installing ------------------------------------------------------------------------------
    def install(self) -> None:
        watch = self
        original_start = RemoteDriver.start_session
        original_quit = RemoteDriver.quit
        original_execute = RemoteDriver.execute

        def start_session(driver: RemoteDriver, capabilities: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            expected = watch.expected()
            capabilities, dropped = clean_capabilities(capabilities)
            if dropped:
                watch.warn(f"capabilities the Grid refuses were removed: {', '.join(dropped)}")
            asked = prompt_handler(capabilities)
            capabilities = harden_capabilities(capabilities, watch.route, bidi=True, headed=watch.recorder is not None)
            kept_open = prompt_handler(capabilities) == KEEP_PROMPTS != asked  # farm's socket, the suite's prompts
            began = time.monotonic()
            original_start(driver, capabilities, *args, **kwargs)
            watch.opened(driver, expected, asked if kept_open else None)
            watch.open_seconds.append(time.monotonic() - began)

        def quit(driver: RemoteDriver) -> None:
            if sys.exc_info()[0] is not None and watch.evidence is not None:
                # Quit while an exception propagates (a test's own `finally: browser.quit()`): the
                # cell is failing and this is the last moment its browser can still be seen.
                with contextlib.suppress(Exception):
                    watch.evidence(driver)
            watch.ending(getattr(driver, "session_id", None))
            try:
                original_quit(driver)
            finally:
                watch.closed(getattr(driver, "session_id", None))

        def execute(driver: RemoteDriver, driver_command: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
            if watch.settling:
                watch.before_command(getattr(driver, "session_id", None))
            if driver_command == Command.GET and params and str(params.get("url", ""))[:7].lower() == "file://":
                params = {**params, "url": watch.file_page(str(params["url"]))}
            try:
                response = original_execute(driver, driver_command, params)
                if driver_command == Command.GET_CURRENT_URL and watch.files is not None and isinstance(response.get("value"), str):
                    response["value"] = watch.files.to_file(response["value"])
                return response
            except UnexpectedAlertPresentException as error:
                handler = watch.prompts.get(str(getattr(driver, "session_id", "")))
                if handler is None:
                    raise
                again = lambda: original_execute(driver, driver_command, params)  # noqa: E731
                return meet_prompt(handler, error, lambda answer: original_execute(driver, answer), again)

        def local_browser(cls: type, *args: Any, **kwargs: Any) -> RemoteDriver:
            return watch.local_to_grid(cls, args, kwargs)

        self._patch(RemoteDriver, "start_session", start_session)
        self._patch(RemoteDriver, "quit", quit)
        self._patch(RemoteDriver, "execute", execute)
        self._patch(ChromiumDriver, "__new__", local_browser)
        self._patch(FirefoxDriver, "__new__", local_browser)

    def _patch(self, cls: type, name: str, value: Any) -> None:
        self._saved.append((cls, name, cls.__dict__.get(name)))
        setattr(cls, name, value)

    def uninstall(self) -> None:
        for cls, name, previous in reversed(self._saved):
            if previous is None:
                with contextlib.suppress(AttributeError):
                    delattr(cls, name)
            else:
                setattr(cls, name, previous)
        self._saved.clear()

    # events ----------------------------------------------------------------------------------
    def opened(self, driver: RemoteDriver, expected: str | None, prompts: str | None = None) -> None:
        if isinstance(getattr(driver, "caps", None), dict):
            driver.caps.update(reachable_sockets(driver.caps, self.grid_url))  # BiDi and CDP from the runner
            if prompts is not None:
                self.prompts[str(driver.session_id)] = prompts
                driver.caps["unhandledPromptBehavior"] = prompts  # what the suite asked for, as a classic session says
        caps = dict(getattr(driver, "caps", None) or {})
        session_id = str(driver.session_id)
        browser = farm_name_of(str(caps.get("browserName", "")))
        session = WatchedSession(session_id, browser, str(caps.get("browserVersion", "")), "", time.time(), driver=weakref.ref(driver))
        self.sessions[session_id] = session
        self.note("open", {"session": session_id, "browser": browser})
        if expected and browser != expected:
            session.node = self._node_of(session_id)
            with contextlib.suppress(Exception):
                driver.quit()
            raise WrongBrowser(
                f"ran in {browser or 'an unknown browser'}, labelled {expected}: the suite opened a {browser} session in a "
                f"{expected} cell; build the driver from the `browser_name` fixture or FARM_BROWSER"
            )
        self._listen(session, caps)  # it attaches while the node is looked up and the test begins
        session.node = self._node_of(session_id)
        self._record(session, caps)

    def file_page(self, url: str) -> str:
        """What a Grid browser opens for a file:// URL (FilePageRefused, with the reason, if nothing)."""
        if self.files is None:
            raise FilePageRefused(NO_ROUTE.format(url=url))
        return self.files.to_http(url)

    def _node_of(self, session_id: str) -> str:
        with contextlib.suppress(Exception):
            return GridClient(self.grid_url, timeout=2).session_node(session_id)
        return ""

    def _listen(self, session: WatchedSession, caps: dict[str, Any]) -> None:
        try:
            session.console = listen(caps)  # None: no socket (the suite turned BiDi off)
        except Exception as exc:
            self.problems.append(f"no console for session {session.id}: {type(exc).__name__}: {exc}")
        if session.console is not None:
            self.settling[session.id] = 0

    def before_command(self, session_id: str | None) -> None:
        """A session's first command goes at once: it loads at most one document, and what that
        document logs is handed to the listener when it attaches. Any later one waits for it."""
        sent = self.settling.get(str(session_id))
        if sent == 0:
            self.settling[str(session_id)] = 1
        elif sent is not None:
            self._console(self.sessions[str(session_id)])

    def _console(self, session: WatchedSession) -> ConsoleListener | None:
        """The session's console listener once it is in; None, with the reason noted, if it failed."""
        self.settling.pop(session.id, None)
        console = session.console
        if console is not None and not console.ready():
            self.problems.append(f"no console for session {session.id}: {console.error}")
            console.close()
            session.console = None
        return session.console

    def _record(self, session: WatchedSession, caps: dict[str, Any]) -> None:
        if self.recorder is None:
            return
        recording = self.recorder.start(session.id, session.node, caps)
        if recording.error:
            self.problems.append(f"no video for session {session.id}: {recording.error}")
        else:
            session.recordings.append(recording)

    def ending(self, session_id: str | None) -> None:
        """Just before a quit: the console's last entries in, the recording ended on the last frame."""
        session = self.sessions.get(str(session_id)) if session_id else None
        if session is None or session.closed is not None:
            return
        console = self._console(session)
        if console is not None:
            console.flush()
        if self.recorder is not None and session.recordings:
            self.recorder.stop(session.recordings[-1])

    def closed(self, session_id: str | None) -> None:
        session = self.sessions.get(str(session_id)) if session_id else None
        if session is not None and session.closed is None:
            session.closed = time.time()
            self.settling.pop(session.id, None)
            self.prompts.pop(session.id, None)
            if session.console is not None:
                session.console.close()
            self.note("quit", {"session": session.id})

    def mark_lost(self, session_id: str, freed: bool) -> None:
        session = self.sessions.get(session_id)
        if session is not None:
            session.lost = True
            session.closed = session.closed or time.time()
            self.settling.pop(session.id, None)
            self.prompts.pop(session.id, None)
            if session.console is not None:
                session.console.close()
        self.note("quit" if freed else "lost", {"session": session_id})

    # local browsers --------------------------------------------------------------------------
    def local_to_grid(self, cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RemoteDriver:
        """A Grid session for the cell's browser in place of a local browser of class `cls`."""
        family = "firefox" if issubclass(cls, FirefoxDriver) else ("edge" if issubclass(cls, webdriver.Edge) else "chrome")
        target = self.expected() or family
        source = kwargs.get("options") or next((a for a in args if hasattr(a, "arguments")), None)
        legacy = [k for k in kwargs if k not in ("options", "service", "keep_alive")]
        options, dropped = translate_options(source, family, target)
        dropped += [f"{k}=..." for k in legacy]
        if dropped:
            self.warn(
                f"webdriver.{ {'chrome': 'Chrome', 'edge': 'Edge', 'firefox': 'Firefox'}[family] }() became a {target} session "
                f"on the Grid; dropped: {', '.join(dropped)}"
            )
        return grid_browser(target, self.grid_url, options)

    @staticmethod
    def warn(message: str) -> None:
        warnings.warn(FarmOptionsWarning(message), stacklevel=4)  # at the suite's call

    # reading ---------------------------------------------------------------------------------
    def used_between(self, start: float, stop: float) -> list[WatchedSession]:
        return sorted((s for s in self.sessions.values() if s.alive_during(start, stop)), key=lambda s: s.opened)

    def open_sessions(self) -> list[WatchedSession]:
        return [s for s in self.sessions.values() if s.closed is None]

    def live_driver(self, start: float) -> RemoteDriver | None:
        """The most recent open, not lost session used since `start`: the one to take evidence from."""
        for session in reversed(self.used_between(start, time.time())):
            driver = session.driver()
            if session.closed is None and not session.lost and driver is not None:
                return driver
        return None

    def console_between(self, start: float, stop: float) -> list[ConsoleEntry]:
        """What the pages of the sessions used in [start, stop] logged then, in order of arrival."""
        entries: list[ConsoleEntry] = []
        for session in self.used_between(start, stop):
            console = self._console(session)
            if console is not None:
                if session.closed is None:
                    console.flush()
                entries += console.between(start, stop)
        return sorted(entries, key=lambda e: e.at)

    def cut_recordings(self, start: float, stop: float) -> list[Recording]:
        """The end of a cell: its share of every recording of the sessions it used. A session that
        lives on is cut here and goes on recording for the next cell."""
        recordings: list[Recording] = []
        if self.recorder is None:
            return recordings
        for session in self.used_between(start, stop):
            running = session.closed is None and bool(session.recordings) and session.recordings[-1].stopped is None
            if running:
                self.recorder.stop(session.recordings[-1])
            recordings += session.recordings
            session.recordings = []
            driver = session.driver()
            if running and driver is not None and not session.lost:
                self._record(session, dict(getattr(driver, "caps", None) or {}))
        return recordings
