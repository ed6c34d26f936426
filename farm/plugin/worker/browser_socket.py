"""A websocket of farm's own to one session's browser, for BiDi or CDP alike: numbered commands
whose answers are awaited, and events handed to a callback by a reader thread.

Both protocols frame messages the same way (`{"id", "method", "params"}` out; an answer with the
same `id`, or an event with a `method`, in), so farm's console listeners (farm.plugin.worker.console) and its
user contexts per cell (farm.plugin.worker.isolation) share this one connection type.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

import websocket


class BrowserSocketError(Exception):
    """A command failed, went unanswered, or the socket is gone."""


class Pending:
    """A command sent; its answer arrives on the reader thread."""

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.answer: dict[str, Any] = {}

    def wait(self, timeout: float) -> bool:
        return self.answered.wait(timeout)


class BrowserSocket:
    def __init__(self, url: str, on_event: Callable[[dict[str, Any]], None] = lambda _m: None, timeout: float = 5.0) -> None:
        self.url = url
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._pending: dict[int, Pending] = {}
        self._lock = threading.Lock()
        self._socket = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        threading.Thread(target=self._read, name="farm-browser-socket", daemon=True).start()

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Pending:
        """Send a command (to a CDP target session, if given) without waiting for its answer."""
        command_id = next(self._ids)
        pending = self._pending[command_id] = Pending()
        message: dict[str, Any] = {"id": command_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            with self._lock:
                self._socket.send(json.dumps(message))
        except (OSError, websocket.WebSocketException) as exc:
            raise BrowserSocketError(f"{method}: {type(exc).__name__}: {exc}") from exc
        return pending

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Send a command and return its result; BrowserSocketError if it failed or went unanswered."""
        return self.result(method, self.send(method, params), timeout)

    def result(self, method: str, pending: Pending, timeout: float = 10.0) -> dict[str, Any]:
        """The result of a command sent earlier (see `call`)."""
        if not pending.wait(timeout):
            raise BrowserSocketError(f"{method}: no answer in {timeout:g}s on {self.url}")
        answer = pending.answer
        if answer.get("type") == "error" or "error" in answer:
            raise BrowserSocketError(f"{method}: {answer.get('error')}: {answer.get('message', '')}")
        return dict(answer.get("result") or {})

    def _read(self) -> None:
        try:
            self._socket.settimeout(None)
            while True:
                message = json.loads(self._socket.recv())
                if "method" in message:
                    self._on_event(message)
                elif message.get("id") in self._pending:
                    pending = self._pending.pop(message["id"])
                    pending.answer = message
                    pending.answered.set()
        except Exception:  # the socket closes when the session ends
            pass
        finally:
            self.close()  # never stay attached unread: a CDP browser would wait on this connection

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._socket.close()
