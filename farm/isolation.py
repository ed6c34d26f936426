"""Cheap isolated cells for farm's own `driver` (`farm test --isolation context`).

A new browser session per cell costs 0.5 to 1 s on Chrome and about 3 s on Firefox on this
machine, mostly start and quit rather than the test. With `context`, each worker keeps one session
and gives every cell a fresh WebDriver BiDi user context (`browser.createUserContext`, a tab in it,
`browser.removeUserContext` at the cell's end): a profile of its own for cookies, storage,
IndexedDB, cache and permissions, whose windows and dialogs close with it. That costs 0.10-0.14 s
on Firefox and 0.28-0.39 s on Chrome, most of it Chrome starting the new tab's renderer (about
0.23 s); the removal overlaps with pytest's reporting. A spare tab made ahead would save that, but
every cell would see it among its window handles.

Isolation is proven, not assumed: before a kept session serves its first cell, a probe on a page
the runner serves writes a cookie, localStorage, sessionStorage and an IndexedDB database, opens a
window and leaves an alert open in one context, then looks for all of it from a fresh one. If
anything is seen, or the probe cannot run (no address the browsers reach the runner at, no BiDi),
that worker falls back to a fresh session per cell and says why. A suite's own drivers are left as
they are.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver

from farm.appserver import serve
from farm.browser_socket import BrowserSocket, BrowserSocketError, Pending
from farm.browsers import reachable_sockets
from farm.catalogue import APP_HOST_ALIAS

PROBE_PAGE = "<!doctype html><title>farm isolation probe</title><p>probe</p>\n"
WRITE_STATE = """
const done = arguments[arguments.length - 1];
document.cookie = 'farm_probe=1; path=/';
localStorage.setItem('farm_probe', '1');
sessionStorage.setItem('farm_probe', '1');
const request = indexedDB.open('farm_probe', 1);
request.onupgradeneeded = () => request.result.createObjectStore('s');
request.onsuccess = () => { request.result.close(); done('written'); };
request.onerror = () => done('indexedDB refused: ' + request.error);
"""
READ_STATE = """
const done = arguments[arguments.length - 1];
const seen = [];
if (document.cookie.includes('farm_probe')) seen.push('cookie');
if (localStorage.getItem('farm_probe')) seen.push('localStorage');
if (sessionStorage.getItem('farm_probe')) seen.push('sessionStorage');
indexedDB.databases().then(
  dbs => { if (dbs.some(d => d.name === 'farm_probe')) seen.push('IndexedDB'); done(seen); },
  error => done(seen.concat(['IndexedDB unreadable: ' + error])));
"""
LEAVE_WINDOW_AND_DIALOG = "window.open('about:blank'); setTimeout(() => alert('farm probe'), 0);"


class KeptBrowser:
    """One session kept by a worker, and the user context of the cell it serves now."""

    def __init__(self, driver: webdriver.Remote, grid_url: str) -> None:
        self.driver = driver
        url = reachable_sockets(driver.caps, grid_url).get("webSocketUrl") or driver.caps.get("webSocketUrl")
        if not isinstance(url, str):
            raise BrowserSocketError("the session has no BiDi socket")
        self.socket = BrowserSocket(url)
        # The session always has a tab (it would end with its last): the next cell's context and
        # tab are made before the last cell's context goes, so a cell sees no window but its own.
        first = driver.current_window_handle
        self.timeouts = dict(driver.caps.get("timeouts") or {})  # a cell's own waits end with it
        self.context, self.tab = self._fresh()
        self.removing: Pending | None = None  # the last cell's context, being removed
        self.socket.call("browsingContext.close", {"context": first})
        driver.switch_to.window(self.tab)

    def _fresh(self) -> tuple[str, str]:
        context = str(self.socket.call("browser.createUserContext")["userContext"])
        return context, str(self.socket.call("browsingContext.create", {"type": "tab", "userContext": context})["context"])

    def begin_cell(self) -> webdriver.Remote:
        """The driver, on the one tab of a context no cell has used; the last cell's is gone."""
        self.settle()
        return self.driver

    def settle(self) -> None:
        """Wait until the last cell's context is removed. `end_cell` only sends the removal, so the
        browser does it while pytest reports the cell and the next one is dispatched."""
        removing, self.removing = self.removing, None
        if removing is not None:
            self.socket.result("browser.removeUserContext", removing)

    def end_cell(self) -> None:
        """Ready the next cell's context, then remove this one (its tabs, dialogs and state go with it)."""
        self.settle()
        used = self.context
        self.context, self.tab = self._fresh()
        self.removing = self.socket.send("browser.removeUserContext", {"userContext": used})
        self.driver.switch_to.window(self.tab)
        if self.timeouts:
            self.driver.execute("setTimeouts", self.timeouts)

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
