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
        """This worker's session for `browser`, proven to isolate cells; None: fall back (and say why)."""
        kept = self.kept.get(browser)
        if kept is not None and kept.driver.session_id in {s.id for s in self.plugin.watch.open_sessions()}:
            return kept
        self._drop(browser)
        session = self._open(request, browser)  # a Firefox one gets its BiDi socket where every session does (SessionWatch)
        try:
            kept = KeptBrowser(session, self.plugin.grid_url)
            why = "" if browser in self.proven else self._disproof(kept)
        except (BrowserSocketError, WebDriverException) as exc:  # the probe itself failed: nothing is proven
            if is_infrastructure(exc) or not answers(session):
                # the session or its node went away under the probe: that proves nothing either
                # way, so the cell fails as infrastructure (and is re-run) and the next one probes again
                with contextlib.suppress(Exception):
                    session.quit()
                raise InvalidSessionIdException(f"the kept {browser} session was lost while proving isolation: {exc}") from exc
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
