"""The page's console and its uncaught errors, for every session on every browser.

Firefox: WebDriver BiDi's `log.entryAdded`, which reports both `console.*` calls and uncaught
exceptions. Chrome and Edge: the Chrome DevTools Protocol (`Runtime.consoleAPICalled`,
`Runtime.exceptionThrown`) on the socket the Grid gives every Chromium session (`se:cdp`). Chrome
speaks BiDi too, but only through a mapper that chromedriver starts per session, and that costs
0.44 s per session here (benchmarks/evidence_cost.py), against nothing for CDP. Selenium's own
`get_log('browser')` exists only on Chrome and misses uncaught errors' stack.

Farm listens on connections of its own, so a suite's own BiDi or CDP use is untouched; the Grid
forwards each connection, and both browsers accept several per session. Entries are stamped with
the runner's clock on arrival, so a cell's share of a session kept across cells is the entries
between its start and stop.

A listener attaches in the background while the session's first command runs: both browsers keep
what the current document logged and hand it to a listener when it attaches (V8 replays its
console storage on `Runtime.enable`, Firefox its cached messages on `session.subscribe`), so the
first page's console is heard as long as that document is still open then. farm.plugin.worker.sessions holds
the session's second command until the listener is in. Attaching took 48 ms per Chrome session
and 124 ms per Firefox session on the path of every cell; now the first page load hides it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from farm.plugin.worker.browser_socket import BrowserSocket, BrowserSocketError, Pending

BIDI_EVENT = "log.entryAdded"
CDP_CONSOLE = "Runtime.consoleAPICalled"
CDP_EXCEPTION = "Runtime.exceptionThrown"
CDP_ATTACHED = "Target.attachedToTarget"
CDP_ERROR_TYPES = {"error": "error", "assert": "error", "warning": "warn", "debug": "debug"}


@dataclass(frozen=True)
class ConsoleEntry:
    at: float  # the runner's clock when the entry arrived
    kind: str  # "console" (console.log/warn/error...) or "javascript" (an uncaught error)
    level: str  # debug | info | warn | error
    text: str
    where: str = ""  # url:line of the first stack frame, when the browser gives one
    method: str = ""  # the console method called: log, warn, error, ...

    @property
    def uncaught(self) -> bool:
        return self.kind == "javascript"

    @property
    def console_error(self) -> bool:
        return self.kind == "console" and self.level == "error"

    def line(self) -> str:
        what = "uncaught" if self.uncaught else f"console.{self.method or self.level}"
        stamp = datetime.fromtimestamp(self.at).strftime("%H:%M:%S.%f")[:-3]
        return f"{stamp} {what}: {self.text}" + (f"  ({self.where})" if self.where else "")


def _where(stack: dict[str, Any] | None, url: str = "", line: int | None = None) -> str:
    frames = (stack or {}).get("callFrames") or []
    if frames and frames[0].get("url"):
        return f"{frames[0]['url']}:{int(frames[0].get('lineNumber', 0)) + 1}"
    return f"{url}:{line + 1}" if url and line is not None else ""


def _value(remote: dict[str, Any]) -> str:
    """A console argument as the console shows it (BiDi and CDP remote values alike)."""
    if "value" in remote:
        return str(remote["value"])
    return str(remote.get("description") or remote.get("unserializableValue") or remote.get("type", ""))


def entry_from(params: dict[str, Any], at: float) -> ConsoleEntry:
    """A BiDi `log.entryAdded` event's params, as Chrome and Firefox send them."""
    text = params.get("text")
    if text is None:  # a console call whose arguments the browser did not serialise into text
        text = " ".join(_value(a) for a in params.get("args") or [])
    kind, level = str(params.get("type", "console")), str(params.get("level", "info"))
    method = str(params.get("method", "")) if kind == "console" else ""
    return ConsoleEntry(at, kind, level, str(text), _where(params.get("stackTrace")), method)


def entry_from_cdp(method: str, params: dict[str, Any], at: float) -> ConsoleEntry | None:
    """A CDP Runtime event's params as the same entry BiDi would give; None for other events."""
    if method == CDP_CONSOLE:
        kind = str(params.get("type", "log"))
        text = " ".join(_value(a) for a in params.get("args") or [])
        level = CDP_ERROR_TYPES.get(kind, "info")
        return ConsoleEntry(at, "console", level, text, _where(params.get("stackTrace")), "warn" if kind == "warning" else kind)
    if method == CDP_EXCEPTION:
        details = params.get("exceptionDetails") or {}
        description = str((details.get("exception") or {}).get("description") or details.get("text") or "")
        where = _where(details.get("stackTrace"), str(details.get("url", "")), details.get("lineNumber"))
        return ConsoleEntry(at, "javascript", "error", description.splitlines()[0] if description else "", where)
    return None


def counts(entries: list[ConsoleEntry]) -> dict[str, int]:
    """summary.json's per-cell numbers: uncaught page errors, and console.error calls."""
    return {"js_errors": sum(e.uncaught for e in entries), "console_errors": sum(e.console_error for e in entries)}


def as_text(entries: list[ConsoleEntry]) -> str:
    return "\n".join(e.line() for e in entries) + "\n"


class ConsoleListener:
    """The console of one session's browser, read on a socket of farm's own (farm.plugin.worker.browser_socket).

    It attaches on a thread of its own (see the module's docstring); `ready` waits for that."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.entries: list[ConsoleEntry] = []
        self.socket: BrowserSocket | None = None
        self.error = ""  # why it is not listening, once `ready` says so
        self._closed = False
        self._attached = threading.Event()
        threading.Thread(target=self._attach, args=(timeout,), name="farm-console", daemon=True).start()

    def _attach(self, timeout: float) -> None:
        try:
            self.socket = BrowserSocket(self.url, self._event, timeout)
            if not self._start(self.socket, timeout):
                raise TimeoutError(f"the browser did not answer on {self.url}")
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            if self.error or self._closed:
                self.close()
            self._attached.set()

    def ready(self, timeout: float = 10.0) -> bool:
        """Listening, with what the open pages logged so far on its way; False (and `error`) if not."""
        if not self._attached.wait(timeout) and not self.error:
            self.error = f"TimeoutError: not attached to {self.url} in {timeout:g}s"
        return not self.error

    # per protocol ---------------------------------------------------------------------------
    def _start(self, socket: BrowserSocket, timeout: float) -> bool:
        raise NotImplementedError

    def _event(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    def _barrier(self) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    # shared ---------------------------------------------------------------------------------
    def flush(self, timeout: float = 1.0) -> None:
        """Wait until what the browser logged so far has arrived (a round trip on this connection)."""
        if not self.ready() or self.socket is None:
            return
        with contextlib.suppress(BrowserSocketError):
            self.socket.send(*self._barrier()).wait(timeout)

    def between(self, start: float, stop: float) -> list[ConsoleEntry]:
        return [e for e in list(self.entries) if start <= e.at <= stop]

    def close(self) -> None:
        self._closed = True
        if self.socket is not None:
            self.socket.close()


class BidiConsole(ConsoleListener):
    """WebDriver BiDi: one subscription to `log.entryAdded` covers every tab of the session."""

    def _start(self, socket: BrowserSocket, timeout: float) -> bool:
        return socket.send("session.subscribe", {"events": [BIDI_EVENT]}).wait(timeout)

    def _event(self, message: dict[str, Any]) -> None:
        if message["method"] == BIDI_EVENT:
            self.entries.append(entry_from(message.get("params") or {}, time.time()))

    def _barrier(self) -> tuple[str, dict[str, Any]]:
        return "session.status", {}


class CdpConsole(ConsoleListener):
    """Chrome DevTools Protocol on the browser's socket: every page (and new tab) is attached as it
    comes, with the Runtime domain on, so its console calls and uncaught exceptions arrive here."""

    def _start(self, socket: BrowserSocket, timeout: float) -> bool:
        """Attached, with Runtime on in the pages already open (each replays what its document
        logged so far). Chrome reports the open pages' attachment before it answers setAutoAttach,
        so their Runtime.enable requests are out by then."""
        self._enabling: list[Pending] = []
        params = {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": True}
        if not socket.send("Target.setAutoAttach", params).wait(timeout):
            return False
        deadline = time.monotonic() + timeout
        return all(enabled.wait(max(0.0, deadline - time.monotonic())) for enabled in list(self._enabling))

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message["method"], message.get("params") or {}
        if method == CDP_ATTACHED:
            # Chrome holds every auto-attached new target (a tab the page opens) until told to run.
            session, socket = params.get("sessionId"), self.socket
            if socket is None:  # cannot be: events come only after setAutoAttach, sent on it
                return
            if (params.get("targetInfo") or {}).get("type") in ("page", "iframe"):
                self._enabling.append(socket.send("Runtime.enable", {}, session))
            socket.send("Runtime.runIfWaitingForDebugger", {}, session)
            return
        entry = entry_from_cdp(method, params, time.time())
        if entry is not None:
            self.entries.append(entry)

    def _barrier(self) -> tuple[str, dict[str, Any]]:
        return "Browser.getVersion", {}


def listen(capabilities: dict[str, Any]) -> ConsoleListener | None:
    """A listener for a session, from its (runner-reachable) capabilities: CDP for Chromium, else BiDi."""
    if isinstance(capabilities.get("se:cdp"), str) and str(capabilities.get("browserName", "")).lower() in (
        "chrome",
        "chromium",
        "msedge",
        "microsoftedge",
    ):
        return CdpConsole(capabilities["se:cdp"])
    if isinstance(capabilities.get("webSocketUrl"), str):
        return BidiConsole(capabilities["webSocketUrl"])
    return None
