"""Farm's own `driver` fixture, in an xdist worker: a Grid session for the cell's browser.

Headless, created with retries on infrastructure errors only, with farm's handling of lost nodes;
with --isolation context, a kept session and a fresh user context per cell (farm.plugin.worker.isolation).
Not registered when the suite uses pytest-selenium, whose own driver stack runs.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from selenium import webdriver
from selenium.common.exceptions import InvalidSessionIdException, SessionNotCreatedException, WebDriverException

from farm.core.failures import is_infrastructure
from farm.infra.browsers import NoSlotLeft, is_refused, open_session
from farm.infra.grid import GridClient
from farm.plugin.worker.browser_socket import BrowserSocketError
from farm.plugin.worker.cells import CELL_KEY, LOST_KEY
from farm.plugin.worker.isolation import KeptBrowser, leaks, probe_site

if TYPE_CHECKING:
    from farm.plugin.worker.cells import WorkerPlugin


def answers(session: webdriver.Remote) -> bool:
    """Is the session still there (a cheap command; a lost node makes it fail)?"""
    try:
        session.execute_script("return 1")
    except Exception:
        return False
    return True


NO_PROBE_ADDRESS = "isolation cannot be proven without an address the browsers reach this runner at (farm's own grid has one)"


class FarmIsolationWarning(UserWarning):
    """--isolation context could not be proven for a browser: its cells get fresh sessions."""


class FarmDriver:
    """Farm's own `driver`: a Grid session for the cell's browser, headless, with farm's handling of
    lost nodes; with --isolation context, a kept session and a fresh user context per cell
    (farm.plugin.worker.isolation). Not registered when the suite uses pytest-selenium, whose own driver stack runs."""

    def __init__(self, plugin: WorkerPlugin) -> None:
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

    def _open(self, request: pytest.FixtureRequest, browser: str) -> webdriver.Remote:
        if getattr(request.node, "execution_count", 1) > 1:
            self._check_slot_left(browser)
        try:
            return open_session(self.plugin.grid_url, browser)
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
        """This worker's session for `browser`; None: fall back to fresh sessions (and say why).

        A new kept browser serves its first cell unproven: no earlier cell ran in it, so there is
        nothing to see. The probe runs before its second cell, once the run's start (every worker
        opening a browser at once) is over: on 2 cores it took 7-9 s more there than later."""
        kept = self.kept.get(browser)
        if kept is not None and kept.driver.session_id in {s.id for s in self.plugin.watch.open_sessions()}:
            return kept if browser in self.proven or self._proves(browser, kept) else None
        self._drop(browser)
        if self._probe_url() is None:
            self._fall_back(browser, NO_PROBE_ADDRESS)
            return None
        session = self._open(request, browser)  # a Firefox one gets its BiDi socket where every session does (SessionWatch)
        try:
            self.kept[browser] = KeptBrowser(session, self.plugin.grid_url)
        except (BrowserSocketError, WebDriverException) as exc:
            self._contexts_failed(browser, session, exc)
            return None
        return self.kept[browser]

    def _proves(self, browser: str, kept: KeptBrowser) -> bool:
        """Does the probe see nothing of one context from the next? Otherwise fall back."""
        try:
            seen = leaks(kept, str(self._probe_url()))
        except (BrowserSocketError, WebDriverException) as exc:
            self._contexts_failed(browser, kept.driver, exc)
            return False
        if seen:
            self._fall_back(browser, f"state leaked from one user context into the next: {', '.join(seen)}")
            return False
        self.proven.add(browser)
        return True

    def _contexts_failed(self, browser: str, session: webdriver.Remote, exc: Exception) -> None:
        """Making or probing contexts failed. If the session or its node went away, that proves
        nothing either way: the cell fails as infrastructure (and is re-run), and the next kept
        browser is probed again. Otherwise contexts do not work here: fresh sessions."""
        if is_infrastructure(exc) or not answers(session):
            self._discard(browser, session)
            raise InvalidSessionIdException(f"the kept {browser} session was lost while making or proving contexts: {exc}") from exc
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        self._fall_back(browser, f"its user contexts failed ({type(exc).__name__}: {first_line})", session)

    def _fall_back(self, browser: str, why: str, session: webdriver.Remote | None = None) -> None:
        self._discard(browser, session)
        self.fallback[browser] = why
        warnings.warn(FarmIsolationWarning(f"{browser}: a fresh session per cell, as {why}"), stacklevel=3)

    def _probe_url(self) -> str | None:
        """The probe page on the address the browsers reach this runner at (None: there is none)."""
        if not self.probe_ready:
            self.probe_url = self.resources.enter_context(probe_site(os.environ.get("FARM_APP_HOST")))
            self.probe_ready = True
        return self.probe_url

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

    def _discard(self, browser: str, session: webdriver.Remote | None) -> None:
        """Quit the kept browser and `session`, once each: a session that is the kept one's was
        quit with it (a second quit is a request to a session that is gone)."""
        kept = self.kept.get(browser)
        self._drop(browser)
        if session is not None and (kept is None or session is not kept.driver):
            with contextlib.suppress(Exception):
                session.quit()

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
