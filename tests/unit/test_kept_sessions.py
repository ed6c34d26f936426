"""What farm's `driver` does with a kept session when its contexts fail: each session is quit
once, whether it was already kept or was being made into the kept one (fakes stand in for the
session and the kept browser; farm.plugin.worker.driver decides)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from selenium.common.exceptions import InvalidSessionIdException, WebDriverException

from farm.plugin.worker.driver import FarmDriver, FarmIsolationWarning


class Session:
    """A Grid session that counts its quits and answers as told."""

    def __init__(self, answers: bool = True) -> None:
        self.quits = 0
        self.answers = answers
        self.session_id = "s1"

    def quit(self) -> None:
        self.quits += 1

    def execute_script(self, script: str) -> object:
        if not self.answers:
            raise WebDriverException("no such session")
        return 1


class Kept:
    """A kept browser: closing it quits its session (farm.plugin.worker.isolation.KeptBrowser)."""

    def __init__(self, driver: Session) -> None:
        self.driver = driver

    def close(self) -> None:
        self.driver.quit()


def farm_driver() -> FarmDriver:
    plugin = SimpleNamespace(config=SimpleNamespace(getoption=lambda name: "context"))
    return FarmDriver(plugin)  # type: ignore[arg-type]


def test_contexts_that_fail_in_the_kept_session_quit_it_once_and_fall_back():
    fixture, session = farm_driver(), Session()
    fixture.kept["firefox"] = Kept(session)  # type: ignore[assignment]
    with pytest.warns(FarmIsolationWarning, match="firefox: a fresh session per cell"):
        fixture._contexts_failed("firefox", session, WebDriverException("unknown command: browser.createUserContext"))  # type: ignore[arg-type]
    assert session.quits == 1 and "firefox" not in fixture.kept and "user contexts failed" in fixture.fallback["firefox"]


def test_a_kept_session_lost_while_proving_is_quit_once_and_the_cell_fails_as_infrastructure():
    fixture, session = farm_driver(), Session(answers=False)
    fixture.kept["chrome"] = Kept(session)  # type: ignore[assignment]
    with pytest.raises(InvalidSessionIdException, match="the kept chrome session was lost"):
        fixture._contexts_failed("chrome", session, WebDriverException("disconnected"))  # type: ignore[arg-type]
    assert session.quits == 1 and not fixture.kept and "chrome" not in fixture.fallback  # the next cell probes again


def test_a_session_that_never_became_the_kept_one_is_quit_too():
    fixture, session = farm_driver(), Session()
    with pytest.warns(FarmIsolationWarning):
        fixture._contexts_failed("firefox", session, WebDriverException("unknown command"))  # type: ignore[arg-type]
    assert session.quits == 1
