"""The order farm.plugin.worker.sessions keeps between a session's commands and its console listener attaching
(a listener that records when it was waited for stands in for the browser's socket)."""

from __future__ import annotations

import pytest

from farm.plugin.worker import sessions
from farm.plugin.worker.sessions import SessionWatch


class Listener:
    """What SessionWatch uses of a farm.plugin.worker.console listener; `ready` answers as told."""

    def __init__(self, attaches: bool = True) -> None:
        self.attaches = attaches
        self.error = "" if attaches else "TimeoutError: not attached to ws://node/se/cdp in 10s"
        self.waited = 0
        self.flushed = 0
        self.closed = False

    def ready(self, timeout: float = 10.0) -> bool:
        self.waited += 1
        return self.attaches

    def flush(self, timeout: float = 1.0) -> None:
        self.flushed += 1

    def close(self) -> None:
        self.closed = True


class Driver:
    """A session's identity, as a Remote driver has it once the Grid answered."""

    def __init__(self) -> None:
        self.session_id = "s1"
        self.caps = {"browserName": "chrome", "browserVersion": "156", "se:cdp": "ws://node/se/cdp"}


def opened(monkeypatch: pytest.MonkeyPatch, listener: Listener) -> SessionWatch:
    monkeypatch.setattr(sessions, "listen", lambda caps: listener)
    watch = SessionWatch("http://grid.invalid:4444", expected=lambda: "chrome")
    monkeypatch.setattr(watch, "_node_of", lambda session_id: "http://node:5555")
    watch.opened(Driver(), "chrome")  # type: ignore[arg-type]
    return watch


def test_the_first_command_goes_at_once_and_the_second_waits_for_the_listener(monkeypatch):
    listener = Listener()
    watch = opened(monkeypatch, listener)
    watch.before_command("s1")
    assert listener.waited == 0  # the first page's console is handed to the listener when it attaches
    watch.before_command("s1")
    assert listener.waited == 1 and watch.settling == {}
    watch.before_command("s1")
    assert listener.waited == 1  # attached: later commands pay nothing
    assert watch.problems == [] and watch.sessions["s1"].console is listener


def test_a_quit_before_any_command_still_waits_for_the_listener_and_reads_it(monkeypatch):
    listener = Listener()
    watch = opened(monkeypatch, listener)
    watch.ending("s1")
    assert (listener.waited, listener.flushed) == (1, 1)
    watch.closed("s1")
    assert listener.closed and watch.settling == {}


def test_a_listener_that_never_attaches_is_reported_and_dropped(monkeypatch):
    listener = Listener(attaches=False)
    watch = opened(monkeypatch, listener)
    watch.before_command("s1")
    watch.before_command("s1")
    assert watch.problems == ["no console for session s1: TimeoutError: not attached to ws://node/se/cdp in 10s"]
    assert listener.closed and watch.sessions["s1"].console is None
    assert watch.console_between(0, float("inf")) == [] and len(watch.problems) == 1  # reported once
