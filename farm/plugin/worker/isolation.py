"""Cheap isolated cells for farm's own `driver` (`farm test --isolation context`).

A new browser session per cell costs 0.5 to 1 s on Chrome and about 3 s on Firefox on this
machine, mostly start and quit rather than the test. With `context`, each worker keeps one session
and gives every cell a fresh isolated context and a tab in it, and removes the context at the
cell's end: a profile of its own for cookies, storage, IndexedDB, cache and permissions, whose
windows and dialogs close with it. Firefox's are WebDriver BiDi user contexts; Chrome's and Edge's
are the DevTools browser contexts that chromedriver's BiDi user contexts are made of, made over CDP
so the session needs no BiDi (whose mapper slowed every Chrome cell by about 0.12 s). That costs
0.11-0.15 s per cell on Firefox and 0.19-0.25 s on Chrome (benchmarks/isolation_cost.py), most of
it the new tab's renderer starting; the removal overlaps with pytest's reporting. A spare tab made
ahead would save that, but every cell would see it among its window handles.

Isolation is proven, not assumed: before a kept session serves its first cell, a probe on a page
the runner serves writes a cookie, localStorage, sessionStorage, an IndexedDB database and an HTTP
cache entry, opens a window and leaves an alert open in one context, then looks for all of it from
a fresh one. If anything is seen, or the probe cannot run (no address the browsers reach the runner
at, no socket to make contexts on), that worker falls back to a fresh session per cell and says
why. A suite's own drivers are left as they are.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.remote.command import Command

from farm.core.catalogue import APP_HOST_ALIAS
from farm.infra.appserver import serve
from farm.infra.browsers import family, reachable_sockets
from farm.plugin.worker.browser_socket import BrowserSocket, BrowserSocketError, Pending

PROBE_PAGE = "<!doctype html><title>farm isolation probe</title><p>probe</p>\n"
WRITE_STATE = """
const done = arguments[arguments.length - 1];
document.cookie = 'farm_probe=1; path=/';
localStorage.setItem('farm_probe', '1');
sessionStorage.setItem('farm_probe', '1');
const cached = () => fetch('?farm_probe', {cache: 'force-cache'}).then(r => r.text())
  .then(() => fetch('?farm_probe', {cache: 'only-if-cached', mode: 'same-origin'}))
  .then(() => done('written'), error => done('the HTTP cache cannot be observed: ' + error));
const request = indexedDB.open('farm_probe', 1);
request.onupgradeneeded = () => request.result.createObjectStore('s');
request.onsuccess = () => { request.result.close(); cached(); };
request.onerror = () => done('indexedDB refused: ' + request.error);
"""
READ_STATE = """
const done = arguments[arguments.length - 1];
const seen = [];
if (document.cookie.includes('farm_probe')) seen.push('cookie');
if (localStorage.getItem('farm_probe')) seen.push('localStorage');
if (sessionStorage.getItem('farm_probe')) seen.push('sessionStorage');
const cache = fetch('?farm_probe', {cache: 'only-if-cached', mode: 'same-origin'})
  .then(() => seen.push('HTTP cache'), () => null);  // only-if-cached fails unless it is cached
cache.then(() => indexedDB.databases()).then(
  dbs => { if (dbs.some(d => d.name === 'farm_probe')) seen.push('IndexedDB'); done(seen); },
  error => done(seen.concat(['IndexedDB unreadable: ' + error])));
"""
LEAVE_WINDOW_AND_DIALOG = "window.open('about:blank'); setTimeout(() => alert('farm probe'), 0);"


class Contexts:
    """How a session's browser makes isolated contexts and tabs in them, on a socket of farm's own."""

    def __init__(self, url: str) -> None:
        self.socket = BrowserSocket(url)

    def create(self) -> tuple[str, str]:
        """A new context and its one tab."""
        context = self.new_context()
        return context, self.new_tab(context)

    def new_context(self) -> str:
        raise NotImplementedError

    def new_tab(self, context: str) -> str:
        raise NotImplementedError

    def remove(self, context: str) -> Pending:
        """Sent, not awaited: the context goes with its tabs, dialogs and state."""
        raise NotImplementedError

    def close_tab(self, tab: str) -> None:
        raise NotImplementedError


class BidiContexts(Contexts):
    """WebDriver BiDi user contexts (Firefox): each a profile of its own, with its own tabs."""

    def new_context(self) -> str:
        return str(self.socket.call("browser.createUserContext")["userContext"])

    def new_tab(self, context: str) -> str:
        return str(self.socket.call("browsingContext.create", {"type": "tab", "userContext": context})["context"])

    def remove(self, context: str) -> Pending:
        return self.socket.send("browser.removeUserContext", {"userContext": context})

    def close_tab(self, tab: str) -> None:
        self.socket.call("browsingContext.close", {"context": tab})


class CdpContexts(Contexts):
    """Chrome DevTools browser contexts (Chrome, Edge): the same isolation as a BiDi user context,
    which chromedriver builds from them, without the BiDi mapper in between. The mapper (a script
    chromedriver runs in the browser once a session asks for `webSocketUrl`) relays every command
    and follows every tab; without it a Chrome cell cost 0.12 s less (benchmarks/isolation_cost.py
    --compare). A tab made here is a window handle like any other (its target id)."""

    def new_context(self) -> str:
        return str(self.socket.call("Target.createBrowserContext", {"disposeOnDetach": False})["browserContextId"])

    def new_tab(self, context: str) -> str:
        return str(self.socket.call("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"])

    def remove(self, context: str) -> Pending:
        return self.socket.send("Target.disposeBrowserContext", {"browserContextId": context})

    def close_tab(self, tab: str) -> None:
        self.socket.call("Target.closeTarget", {"targetId": tab})


def uses_cdp(browser: str) -> bool:
    """Chromium's kept sessions make their contexts over CDP; they are opened without BiDi."""
    return family(browser) == "chromium"


def contexts_for(capabilities: dict[str, Any], grid_url: str) -> Contexts:
    """The session's way to make isolated contexts, on a socket the runner can open."""
    sockets = reachable_sockets(capabilities, grid_url)
    cdp = sockets.get("se:cdp") or capabilities.get("se:cdp")
    if isinstance(cdp, str) and uses_cdp(str(capabilities.get("browserName", "")).lower()):
        return CdpContexts(cdp)
    bidi = sockets.get("webSocketUrl") or capabilities.get("webSocketUrl")
    if isinstance(bidi, str):
        return BidiContexts(bidi)
    raise BrowserSocketError("the session has neither a CDP nor a BiDi socket")


class KeptBrowser:
    """One session kept by a worker, and the isolated context of the cell it serves now."""

    def __init__(self, driver: webdriver.Remote, grid_url: str, contexts: Contexts | None = None) -> None:
        self.driver = driver
        self.contexts = contexts or contexts_for(driver.caps, grid_url)
        self.socket = self.contexts.socket
        # The session always has a tab (it would end with its last): the next cell's context and
        # tab are made before the last cell's context goes, so a cell sees no window but its own.
        first = driver.current_window_handle
        self.timeouts = dict(driver.caps.get("timeouts") or {})  # a cell's own waits end with it
        self.timeouts_changed = False
        self._watch_timeouts()
        self.context, self.tab = self.contexts.create()
        self.removing: Pending | None = None  # the last cell's context, being removed
        self.contexts.close_tab(first)
        driver.switch_to.window(self.tab)

    def _watch_timeouts(self) -> None:
        """Note when a cell sets the session's timeouts, so that only then are they put back (a
        round trip per cell otherwise). Every selenium call that sets them (implicitly_wait,
        set_script_timeout, set_page_load_timeout, `timeouts =`) goes through `execute`."""
        execute = self.driver.execute

        def watched(command: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
            if command == Command.SET_TIMEOUTS:
                self.timeouts_changed = True
            return execute(command, params)

        self.driver.execute = watched  # type: ignore[method-assign]

    def begin_cell(self) -> webdriver.Remote:
        """The driver, on the one tab of a context no cell has used; the last cell's is gone."""
        self.settle()
        return self.driver

    def settle(self) -> None:
        """Wait until the last cell's context is removed. `end_cell` only sends the removal, so the
        browser does it while pytest reports the cell and the next one is dispatched."""
        removing, self.removing = self.removing, None
        if removing is not None:
            self.socket.result("remove the last cell's context", removing)

    def end_cell(self) -> None:
        """Ready the next cell's context, then remove this one (its tabs, dialogs and state go with it)."""
        self.settle()
        used = self.context
        self.context, self.tab = self.contexts.create()
        self.removing = self.contexts.remove(used)  # while the driver waits for the new tab
        self.driver.switch_to.window(self.tab)
        if self.timeouts_changed and self.timeouts:
            self.driver.execute(Command.SET_TIMEOUTS, self.timeouts)
            self.timeouts_changed = False

    def close(self) -> None:
        self.socket.close()
        with contextlib.suppress(Exception):
            self.driver.quit()


def leaks(kept: KeptBrowser, url: str) -> list[str]:
    """What state of one cell the next cell could see: an empty list proves isolation."""
    driver = kept.begin_cell()
    driver.set_script_timeout(10)
    try:
        driver.get(url)
        written = driver.execute_async_script(WRITE_STATE)
        if written != "written":
            return [str(written)]
        driver.execute_script(LEAVE_WINDOW_AND_DIALOG)
    finally:
        kept.end_cell()
    kept.settle()
    seen: list[str] = []
    if len(driver.window_handles) != 1:
        seen.append(f"{len(driver.window_handles) - 1} window(s) left open")
    driver = kept.begin_cell()
    try:
        driver.get(url)
        seen += list(driver.execute_async_script(READ_STATE))
    finally:
        kept.end_cell()
    return seen


@contextlib.contextmanager
def probe_site(app_host: str | None) -> Iterator[str | None]:
    """The probe page, served on the address the browsers reach the runner at (None: there is none)."""
    if not app_host:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="farm-probe-") as folder:
        (Path(folder) / "index.html").write_text(PROBE_PAGE, encoding="utf-8")
        with serve(Path(folder), app_host) as port:
            yield f"http://{APP_HOST_ALIAS}:{port}/index.html"
